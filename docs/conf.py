"""Sphinx configuration of the docs site (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# importing the package imports Airflow, which writes a config file into its home: keep that in the build
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / "docs" / "_build" / "airflow_home"))

from airflow_import_status import __version__  # noqa: E402

project = "airflow-import-status"
author = "airflow-import-status contributors"
copyright = "the airflow-import-status contributors, Apache-2.0"
release = __version__
version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_*.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"airflow-import-status {release}"
