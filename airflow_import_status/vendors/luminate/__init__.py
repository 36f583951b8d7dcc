"""Blackbaud Luminate Online (Convio) address book imports (``getAddressBookImportJobStatus``)."""
