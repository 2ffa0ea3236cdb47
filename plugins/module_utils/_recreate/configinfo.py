# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a saved VirtualMachineConfigInfo, in the forms users hold, into pyVmomi objects:
pyVmomi JSON (``_vimtype``), vim25 JSON (``_typeName``: govc -json, the vSphere 8 JSON API), SOAP
XML (a RetrievePropertiesResponse) and govc ``object.save`` XML (ObjectContent). One builder
walks pyVmomi's own type information, so a field's type comes from the API, not from the file.
No Ansible imports.
"""

import base64
import datetime
import json
from xml.etree import ElementTree

try:
    from pyVmomi import vim, VmomiSupport
    from pyVmomi.Iso8601 import ParseISO8601
except ImportError:
    pass  # VsphereClient reports the missing library

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError

XSI = "{http://www.w3.org/2001/XMLSchema-instance}type"
SKIPPED_FIELDS = ("dynamicType", "dynamicProperty", "_typeName", "_vimtype", "_vimid", "_vimref")
XSD_SCALARS = {"string": str, "int": int, "long": int, "short": int, "byte": int, "boolean": None,
               "float": float, "double": float, "dateTime": None, "base64Binary": None}


class ConfigInfoError(VadpError):
    error_code = "CONFIG_INVALID"


class _Json:
    """A JSON value as the builder reads it."""

    def __init__(self, value):
        self.value = value

    def type_name(self):
        if isinstance(self.value, dict):
            return self.value.get("_typeName") or self.value.get("_vimtype")
        return None

    def fields(self):
        for name, value in self.value.items():
            if name not in SKIPPED_FIELDS and value is not None:
                yield name, [_Json(v) for v in value] if isinstance(value, list) else [_Json(value)]

    def items(self):
        return [_Json(v) for v in self.value] if isinstance(self.value, list) else [self]

    def scalar(self):
        if isinstance(self.value, dict) and "_value" in self.value:  # vim25 JSON's typed any value
            return self.value["_value"]
        return self.value

    def moref(self):
        if isinstance(self.value, dict):  # vim25 JSON
            return self.value.get("type"), self.value.get("value")
        kind, _sep, moid = str(self.value).partition(":")  # pyVmomi JSON: "vim.Datastore:datastore-12"
        return kind.rsplit(".", 1)[-1], moid


class _Xml:
    """An XML element as the builder reads it: repeated children are an array's items."""

    def __init__(self, element):
        self.element = element

    def type_name(self):
        value = self.element.get(XSI)
        return value.split(":")[-1] if value else None

    def fields(self):
        grouped = {}
        for child in self.element:
            grouped.setdefault(child.tag.split("}")[-1], []).append(_Xml(child))
        return [(name, nodes) for name, nodes in grouped.items() if name not in SKIPPED_FIELDS]

    def items(self):
        return [self]

    def scalar(self):
        return self.element.text or ""

    def moref(self):
        return self.element.get("type"), (self.element.text or "").strip()


def _resolve_type(name, path):
    for lookup in (lambda n: VmomiSupport.GetWsdlType("urn:vim25", n), VmomiSupport.GetVmodlType):
        try:
            return lookup(name)
        except (KeyError, AttributeError, TypeError):
            continue
    raise ConfigInfoError("%s: unknown type %r (not a vSphere API type this pyVmomi knows)" % (path, name))


def _scalar(value, kind, path):
    try:
        if kind is bool:
            return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1")
        if kind is datetime.datetime:
            return ParseISO8601(value) if isinstance(value, str) else value
        if kind is VmomiSupport.binary:
            return base64.b64decode(value) if isinstance(value, str) else bytes(value)
        if issubclass(kind, int) and not issubclass(kind, bool):
            return kind(int(value))
        if issubclass(kind, float):
            return kind(float(value))
        return kind(value) if issubclass(kind, str) else value
    except (TypeError, ValueError) as exc:
        raise ConfigInfoError("%s: %r is not a valid %s (%s)" % (path, value, kind.__name__, exc))


def _any(node, path):
    """An xsd:anyType value (OptionValue.value): typed by the file, or a plain JSON scalar."""
    name = node.type_name()
    if name in XSD_SCALARS or name is None:
        value = node.scalar()
        if name in ("boolean",):
            return _scalar(value, bool, path)
        if name in ("dateTime",):
            return _scalar(value, datetime.datetime, path)
        if name in ("base64Binary",):
            return _scalar(value, VmomiSupport.binary, path)
        return XSD_SCALARS[name](value) if XSD_SCALARS.get(name) else value
    return _build(node, object, path)


def _build(node, expected, path, unknown=None):
    """A pyVmomi value of the expected type from a node; fields pyVmomi does not know are
    listed in unknown (a newer vSphere than this pyVmomi)."""
    if issubclass(expected, VmomiSupport.ManagedObject):
        kind, moid = node.moref()
        return _resolve_type(kind, path)(moid) if kind else expected(moid)
    if expected is object and (node.type_name() is None or node.type_name() in XSD_SCALARS):
        return _any(node, path)
    if not issubclass(expected, VmomiSupport.DataObject) and expected is not object:
        return _scalar(node.scalar(), expected, path)
    kind = _resolve_type(node.type_name(), path) if node.type_name() else expected
    if expected is not object and not issubclass(kind, expected):
        raise ConfigInfoError("%s: type %s where the API expects %s" % (path, kind.__name__, expected.__name__))
    result = kind()
    for name, nodes in node.fields():
        try:
            info = kind._GetPropertyInfo(name)
        except AttributeError:
            if unknown is not None:
                unknown.append("%s.%s" % (path, name))
            continue
        field_path = "%s.%s" % (path, name)
        if issubclass(info.type, list):
            items = [item for n in nodes for item in n.items()]
            values = [_build(item, info.type.Item, "%s[%d]" % (field_path, i), unknown) for i, item in enumerate(items)]
            setattr(result, name, info.type(values))
        else:
            setattr(result, name, _build(nodes[0], info.type, field_path, unknown))
    return result


def _config_nodes_from_json(value):
    """[(vm name or None, node of a ConfigInfo)] of a JSON value in either JSON form."""
    values = value if isinstance(value, list) else [value]
    found = []
    for item in values:
        if not isinstance(item, dict):
            continue
        kind = item.get("_typeName") or item.get("_vimtype") or ""
        if kind in ("VirtualMachineConfigInfo", "vim.vm.ConfigInfo"):
            found.append((item.get("name"), _Json(item)))
        elif isinstance(item.get("config"), dict):  # a whole VirtualMachine (pyVmomi JSON)
            found.append((item["config"].get("name"), _Json(item["config"])))
    return found


def _config_nodes_from_xml(text):
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ConfigInfoError("the config is neither JSON nor well-formed XML: %s" % exc)
    found = []
    for element in root.iter():
        if element.tag.split("}")[-1] == "propSet":
            name = element.find("{*}name") if element.find("{*}name") is not None else element.find("name")
            val = element.find("{*}val") if element.find("{*}val") is not None else element.find("val")
            if name is not None and name.text == "config" and val is not None:
                found.append(val)
        elif element.get(XSI, "").split(":")[-1] == "VirtualMachineConfigInfo" and element.tag.split("}")[-1] != "val":
            found.append(element)
    return [((e.find("{*}name").text if e.find("{*}name") is not None else None), _Xml(e)) for e in found]


def load_config(value, select=None):
    """(vim.vm.ConfigInfo, [fields left out as unknown]) from text (JSON or XML) or a parsed
    JSON value. select names the VM when the input holds several."""
    if isinstance(value, (bytes, str)):
        try:
            text = value.decode("utf-8") if isinstance(value, bytes) else value
        except UnicodeDecodeError as exc:
            raise ConfigInfoError("the config is not text (%s): give JSON or XML as vCenter or pyVmomi wrote it" % exc)
        stripped = text.lstrip()
        if stripped.startswith(("{", "[")):
            try:
                candidates = _config_nodes_from_json(json.loads(text))
            except ValueError as exc:
                raise ConfigInfoError("the config looks like JSON but is not: %s" % exc)
        else:
            candidates = _config_nodes_from_xml(text)
    else:
        candidates = _config_nodes_from_json(value)
    if not candidates:
        raise ConfigInfoError("no VirtualMachineConfigInfo found: give pyVmomi JSON (_vimtype), vim25 JSON (_typeName), "
                              "a SOAP RetrievePropertiesResponse or govc object.save XML holding a VM's config")
    if select is not None:
        candidates = [c for c in candidates if c[0] == select]
    if len(candidates) != 1:
        raise ConfigInfoError("the input holds %s VM configs%s: name one with config_vm" % (
            len(candidates) or "no matching", " (%s)" % ", ".join(str(c[0]) for c in candidates) if candidates else ""))
    unknown = []
    config = _build(candidates[0][1], vim.vm.ConfigInfo, "config", unknown)
    if config.hardware is None or not config.hardware.device:
        raise ConfigInfoError("config.hardware.device: the config has no devices (is it a whole VirtualMachineConfigInfo?)")
    return config, unknown


def read_config_file(path, select=None):
    try:
        with open(path, "rb") as f:
            return load_config(f.read(), select)
    except OSError as exc:
        raise ConfigInfoError("cannot read config_file %s: %s" % (path, exc.strerror or exc))
