"""The vendor spec machinery: connection schema (form and parsing from one declaration), jobs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from airflow.sdk import Connection

from airflow_import_status.vendors.spec import (
    ConnectionField,
    ConnectionFieldError,
    ConnectionSchema,
    ImportJob,
    JobFieldError,
    StandardField,
    base_url,
    job_field,
)

SCHEMA = ConnectionSchema(
    standard=(StandardField("host", "Base URL"), StandardField("password", "Key")),
    extras=(
        ConnectionField("flag", "A flag", bool, True),
        ConnectionField("size", "A size", int, 10, minimum=1, maximum=100),
        ConnectionField("mode", "A mode", default="a", choices=("a", "b")),
        ConnectionField("token", "A token", secret=True),
    ),
)


def _values(**conn):
    return SCHEMA.parse(Connection(conn_id="c", conn_type="toy", **{"host": "h", "password": "pw", **conn}), "toy")


def test_base_url_from_host_schema_and_port():
    assert (
        base_url(_values(host="api.example.com/base/", port=8443, schema="https"))
        == "https://api.example.com:8443/base"
    )
    assert base_url(_values(host="http://h:1/p")) == "http://h:1/p"
    with pytest.raises(ConnectionFieldError, match="no Base URL"):
        _values(host="")


def test_extras_are_typed_defaulted_and_legacy_keys_accepted():
    values = _values(extra='{"extra__toy__size": "5", "flag": "off"}')
    assert values["size"] == 5 and values["flag"] is False and values["mode"] == "a" and values["timeout"] == 30
    assert values.secrets == ("pw",)
    assert _values(extra='{"token": "tok-123"}').secrets == ("pw", "tok-123")


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ('{"flag": "maybe"}', "'flag' = 'maybe': must be true or false"),
        ('{"size": 0}', "must be at least 1"),
        ('{"size": "many"}', "must be a whole number"),
        ('{"mode": "c"}', "must be one of a, b"),
        ('{"timeout": "soon"}', "'timeout' = 'soon'"),
        ('{"timeout": -1}', "must be positive"),
        ('{"token": ["x"]}', "'token' = \\*\\*\\*"),
    ],
)
def test_bad_extras_are_clear_errors(extra, match):
    with pytest.raises(ConnectionFieldError, match=match):
        _values(extra=extra)


def test_reading_an_undeclared_field_is_a_bug():
    with pytest.raises(KeyError):
        _values()["undeclared"]


def test_the_form_is_derived_from_the_same_declaration():
    fields = SCHEMA.conn_fields()
    assert fields["token"]["schema"]["format"] == "password"
    assert fields["size"]["schema"] == {"type": ["integer", "null"], "default": 10, "minimum": 1, "maximum": 100}
    assert {"timeout", "verify_ssl", "ca_bundle", "max_connections"} <= set(fields)
    behaviour = SCHEMA.ui_field_behaviour()
    assert behaviour["hidden-fields"] == ["schema", "login", "port", "extra"]
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "Key"}


def test_a_field_declared_twice_is_refused():
    with pytest.raises(ValueError, match="declared twice"):
        ConnectionSchema(standard=(), extras=(ConnectionField("timeout", "again"),))


@dataclass(frozen=True)
class ToyJob(ImportJob):
    list_id: int = job_field(label="list", kind=int)
    job: str = job_field(label="job", job_id=True)
    campaign: str | None = job_field(label="campaign", optional=True)

    label_format = "{job} of list {list_id}"


def test_jobs_are_typed_and_name_the_bad_field():
    job = ToyJob.from_params({"list_id": "7", "job": " j1 "})
    assert job == ToyJob(7, "j1", None) and job.job_id == "j1" and job.describe() == "j1 of list 7"
    assert ToyJob.id_field() == "job" and ToyJob.required_names() == ("list_id", "job")
    with pytest.raises(JobFieldError, match="'list_id' must be a whole number"):
        ToyJob.from_params({"list_id": "seven", "job": "j"})
    with pytest.raises(JobFieldError, match=r"'job' .* is missing"):
        ToyJob.from_params({"list_id": 1})
    with pytest.raises(JobFieldError, match="unknown job parameter"):
        ToyJob.from_params({"list_id": 1, "job": "j", "typo": 2})
    with pytest.raises(JobFieldError, match="needs the job parameter"):
        ToyJob.check_params({"list_id": 1}, "ToySensor 't'")
