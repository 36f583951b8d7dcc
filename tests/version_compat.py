"""Test-only differences between the supported Airflow releases (the package's are in
``airflow_import_status/version_compat.py``); each fallback names the release that needs it.
"""

from __future__ import annotations

try:  # 3.3+
    from airflow.sdk.log import _secrets_masker  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # 3.1 / 3.2: the masker's shared copy inside the task SDK
    from airflow.sdk._shared.secrets_masker import _secrets_masker  # type: ignore[no-redef,unused-ignore]

try:  # 3.2+
    from airflow.sdk.serde import deserialize, serialize
except ImportError:  # 3.1: still in core
    from airflow.serialization.serde import deserialize, serialize  # type: ignore[no-redef,unused-ignore]

try:  # 3.2+: the triggerer's own loader
    from airflow._shared.module_loading import import_string
except ImportError:  # 3.1
    from airflow.utils.module_loading import import_string  # type: ignore[no-redef,unused-ignore]

try:  # 3.3+ (3.2 too?): the DAG serializer's new name
    from airflow.serialization.serialized_objects import DagSerialization
except ImportError:  # 3.1
    from airflow.serialization.serialized_objects import (  # type: ignore[attr-defined,no-redef,unused-ignore]
        SerializedDAG as DagSerialization,
    )

__all__ = ["DagSerialization", "_secrets_masker", "deserialize", "import_string", "serialize"]
