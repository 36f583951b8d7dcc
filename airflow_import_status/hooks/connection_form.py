"""A vendor's connection form as hook methods, for the Airflow releases whose UI ignores ``conn-fields``.

Airflow 3.2+ builds the connection form from the provider info (``conn-fields`` and
``ui-field-behaviour``, generated from the vendor's :class:`ConnectionSchema`). Airflow 3.1 builds
it only from each hook class's own ``get_connection_form_widgets`` / ``get_ui_field_behaviour``,
looked up in the class's ``__dict__`` (an inherited method is not enough), so the hook base
attaches the two methods below to every vendor hook there, from the same schema. On 3.2+ a hook
that declares them is warned about, so they are not attached.

The widgets are the WTForms fields Airflow's providers return; Airflow's API server converts them
to the form's JSON schema (it mocks WTForms and Flask-AppBuilder when they are not installed).
Floats have no WTForms field there, so a float extra is a string field the parser converts.
"""

from __future__ import annotations

from typing import Any

from airflow_import_status.vendors.spec import ConnectionField, ConnectionSchema


def connection_form_widgets(schema: ConnectionSchema) -> dict[str, Any]:
    """``get_connection_form_widgets()``: one WTForms field per extra of the schema."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import Optional, any_of

    def widget(extra: ConnectionField) -> Any:
        validators: list[Any] = [] if extra.required else [Optional()]
        if extra.choices:
            validators.append(any_of(list(extra.choices)))
        options: dict[str, Any] = {"validators": validators, "description": extra.description or ""}
        if extra.default is not None:
            options["default"] = extra.default
        label = lazy_gettext(extra.label)
        if extra.secret:
            return PasswordField(label, widget=BS3PasswordFieldWidget(), **options)
        if extra.kind is bool:
            return BooleanField(label, **options)
        if extra.kind is int:
            return IntegerField(label, widget=BS3TextFieldWidget(), **options)
        return StringField(label, widget=BS3TextFieldWidget(), **options)

    return {extra.name: widget(extra) for extra in schema.all_extras}


def ui_field_behaviour(schema: ConnectionSchema) -> dict[str, Any]:
    """``get_ui_field_behaviour()``: the provider info's ``ui-field-behaviour`` with the method's key names."""
    return {key.replace("-", "_"): value for key, value in schema.ui_field_behaviour().items()}


def attach_connection_form(hook_class: type[Any], schema: ConnectionSchema) -> None:
    """Give ``hook_class`` its own ``get_connection_form_widgets`` / ``get_ui_field_behaviour``."""

    def get_connection_form_widgets(cls: type[Any]) -> dict[str, Any]:
        return connection_form_widgets(schema)

    def get_ui_field_behaviour(cls: type[Any]) -> dict[str, Any]:
        return ui_field_behaviour(schema)

    hook_class.get_connection_form_widgets = classmethod(get_connection_form_widgets)
    hook_class.get_ui_field_behaviour = classmethod(get_ui_field_behaviour)
