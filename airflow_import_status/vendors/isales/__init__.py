"""Huawei Cloud Contact Center CC-iSales data-file import tasks (``queryDataImportTask``)."""
