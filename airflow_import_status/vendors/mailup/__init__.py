"""MailUp's WSMailUpImport SOAP service: spec, codec (zeep, offline) and simulator."""
