#!/usr/bin/env python3
"""Generate the vim25 type catalogue (crates/vsphere-client/src/catalogue/generated.rs).

Inputs (pinned; fetched by tools/catalogue/regenerate.sh):

* the pyVmomi 9.1.1.0 wheel: the ``CreateDataType`` / ``CreateEnumType`` / ``AddVersion`` / ``AddVersionParent`` /
  ``CreateManagedType`` calls of ``pyVmomi/_typeinfo_core.py``, ``_typeinfo_query.py`` and
  ``_typeinfo_vim.py``, plus the types ``VmomiSupport.py`` builds by hand (``DataObject``,
  ``MethodFault``, ``RuntimeFault``, ``LocalizedMethodFault``). The sources are parsed with
  ``ast``; pyVmomi is never imported or executed.
* govmomi ``vim25/types`` (``types.go``, ``enum.go``, ``if.go``) at the version the Go project
  pins: Go field names, Go field order, pointer-ness, ``omitempty`` and interface-ness.

The output is deterministic: it depends only on the two inputs.

Python 3 standard library only.
"""

import argparse
import ast
import os
import re
import sys
import zipfile

PYVMOMI_VERSION = "9.1.1.0"
GOVMOMI_VERSION = "v0.24.1-0.20210127152625-854ba4efe87e"
SCHEMA_SOURCES = (
    f"pyVmomi {PYVMOMI_VERSION} (_typeinfo_core, _typeinfo_query, _typeinfo_vim); "
    f"govmomi {GOVMOMI_VERSION} vim25/types"
)
TYPEINFO_FILES = ("_typeinfo_core.py", "_typeinfo_query.py", "_typeinfo_vim.py")
SUPPORT_FILE = "VmomiSupport.py"
HAND_BUILT = ("vmodl.MethodFault", "vmodl.RuntimeFault", "vmodl.LocalizedMethodFault")

# Where pyVmomi's parent is a Python implementation device rather than the wire schema.
# pyVmomi derives LocalizedMethodFault from MethodFault so that its SoapAdapter can unwrap it into
# the fault it carries ("Strictly speaking LocalizedMethodFault is not a data object type");
# the WSDL and govmomi derive it from DynamicData, and on the wire it has only `fault` and
# `localizedMessage`. Inheriting MethodFault's msg/faultCause/faultMessage (the last two IN_GO)
# would make encoders that follow Go emit fields govmomi's LocalizedMethodFault does not have.
BASE_OVERRIDES = {"LocalizedMethodFault": "DynamicData"}

# Field flags; must match `catalogue::flags` in mod.rs.
ARRAY = 1
OPTIONAL = 2
IN_GO = 4
GO_POINTER = 8
OMITEMPTY = 16
GO_INTERFACE = 32
SECRET = 64
GO_BYTES = 128

# pyVmomi type names of primitive values -> Kind variant.
PY_PRIMITIVES = {
    "string": "String",
    "int": "Int",
    "long": "Long",
    "short": "Short",
    "byte": "Byte",
    "boolean": "Bool",
    "bool": "Bool",
    "double": "Double",
    "float": "Float",
    "dateTime": "DateTime",
    "vmodl.DateTime": "DateTime",
    "binary": "Binary",
    "base64Binary": "Binary",
    "vmodl.Binary": "Binary",
    "anyURI": "Uri",
    "vmodl.URI": "Uri",
    "anyType": "Any",
    "vmodl.TypeName": "TypeName",
    "vmodl.MethodName": "MethodName",
    "vmodl.PropertyPath": "PropertyPath",
}

# Go types of primitive values -> Kind variant.
GO_PRIMITIVES = {
    "string": "String",
    "int32": "Int",
    "int64": "Long",
    "int16": "Short",
    "int8": "Byte",
    "byte": "Byte",
    "bool": "Bool",
    "float64": "Double",
    "float32": "Float",
    "time.Time": "DateTime",
    "[]byte": "Binary",
    "ManagedObjectReference": "MoRef",
    "AnyType": "Any",
}

# The primitive `ArrayOfX` wrappers pyVmomi registers (VmomiSupport: "ArrayOf" + Capitalize(xsd
# name)); the ones govmomi 0.24 lacks are synthesised. `Link` is left out: it is not a wire type.
PRIMITIVE_ARRAYS = (
    ("anyType", "Any"),
    ("boolean", "Bool"),
    ("byte", "Byte"),
    ("short", "Short"),
    ("int", "Int"),
    ("long", "Long"),
    ("float", "Float"),
    ("double", "Double"),
    ("string", "String"),
    ("anyURI", "Uri"),
    ("base64Binary", "Binary"),
    ("dateTime", "DateTime"),
    ("TypeName", "TypeName"),
    ("MethodName", "MethodName"),
    ("PropertyPath", "PropertyPath"),
)


class GenError(Exception):
    pass


def warn(msg):
    print(f"generate.py: warning: {msg}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# Inputs


def read_pyvmomi_sources(wheel=None, pyvmomi_dir=None):
    """Return {file name: source text} for the typeinfo files and VmomiSupport.py."""
    names = TYPEINFO_FILES + (SUPPORT_FILE,)
    out = {}
    if wheel:
        with zipfile.ZipFile(wheel) as zf:
            for n in names:
                try:
                    out[n] = zf.read("pyVmomi/" + n).decode("utf-8")
                except KeyError:
                    raise GenError(f"{wheel}: no pyVmomi/{n} in the wheel")
    else:
        for n in names:
            path = os.path.join(pyvmomi_dir, n)
            with open(path, encoding="utf-8") as f:
                out[n] = f.read()
    return out


def read_go_sources(govmomi_dir):
    base = os.path.join(govmomi_dir, "vim25", "types")
    out = {}
    for n in ("types.go", "enum.go", "if.go"):
        path = os.path.join(base, n)
        if not os.path.isfile(path):
            raise GenError(f"{path}: not found (is {govmomi_dir} the govmomi module root?)")
        with open(path, encoding="utf-8") as f:
            out[n] = f.read()
    return out


# --------------------------------------------------------------------------------------------
# A tiny evaluator for the literal expressions pyVmomi's generated code uses.


def evaluate(node, env):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [evaluate(e, env) for e in node.elts]
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise GenError(f"line {node.lineno}: unknown name {node.id}")
    if isinstance(node, ast.BinOp):
        left, right = evaluate(node.left, env), evaluate(node.right, env)
        if isinstance(node.op, ast.BitOr):
            return left | right
        if isinstance(node.op, ast.LShift):
            return left << right
    if (
        isinstance(node, ast.ListComp)
        and len(node.generators) == 1
        and isinstance(node.generators[0].target, ast.Name)
        and isinstance(node.generators[0].iter, ast.Call)
        and isinstance(node.generators[0].iter.func, ast.Name)
        and node.generators[0].iter.func.id == "range"
        and not node.generators[0].ifs
    ):
        # `[1 << x for x in range(4)]` (the F_* flag definitions)
        gen = node.generators[0]
        bounds = [evaluate(a, env) for a in gen.iter.args]
        values = []
        for i in range(*bounds):
            values.append(evaluate(node.elt, dict(env, **{gen.target.id: i})))
        return values
    raise GenError(f"line {getattr(node, 'lineno', '?')}: unsupported expression {ast.dump(node)}")


def support_constants(tree):
    """BASE_VERSION and the F_* flags as VmomiSupport.py defines them."""
    env = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "BASE_VERSION":
            env["BASE_VERSION"] = evaluate(node.value, env)
        elif isinstance(target, (ast.Tuple, ast.List)) and all(
            isinstance(e, ast.Name) and e.id.startswith("F_") for e in target.elts
        ):
            values = evaluate(node.value, env)
            for e, v in zip(target.elts, values):
                env[e.id] = v
    for name in ("BASE_VERSION", "F_LINK", "F_LINKABLE", "F_OPTIONAL", "F_SECRET"):
        if name not in env:
            raise GenError(f"{SUPPORT_FILE}: could not find {name}")
    return env


def class_attr(tree, cls, attr, env):
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Assign)
                    and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)
                    and stmt.targets[0].id == attr
                ):
                    return evaluate(stmt.value, env)
    raise GenError(f"{SUPPORT_FILE}: no {cls}.{attr}")


# --------------------------------------------------------------------------------------------
# pyVmomi


class PyModel:
    def __init__(self):
        self.data = {}  # wsdl name -> dict(vmodl, parent (vmodl name or None), version, props)
        self.data_by_vmodl = {}  # vmodl name -> wsdl name
        self.enums = {}  # wsdl name -> dict(vmodl, version, values)
        self.enum_by_vmodl = {}
        self.managed = set()  # vmodl names
        self.flags = {}  # F_* values
        self.versions = {}  # version name -> dict(ns, id, service_ns)
        self.parents = {}  # version name -> set of version names it includes (itself too)
        self.oldest = set()  # pyVmomi's oldestVersions: the oldest version a server still serves

    def add_data(self, vmodl, wsdl, parent, version, props, where):
        if wsdl in self.data:
            raise GenError(f"{where}: data type {wsdl} defined twice")
        if vmodl in self.data_by_vmodl:
            raise GenError(f"{where}: data type {vmodl} defined twice")
        fields = []
        for p in props or []:
            name, typ, fver, fl = p[:4]
            fields.append((name, typ, fver, fl))
        self.data[wsdl] = dict(vmodl=vmodl, parent=parent, version=version, props=fields)
        self.data_by_vmodl[vmodl] = wsdl


def load_pyvmomi(sources):
    model = PyModel()
    support = ast.parse(sources[SUPPORT_FILE], SUPPORT_FILE)
    env = support_constants(support)
    model.flags = {k: v for k, v in env.items() if k.startswith("F_")}

    # The roots VmomiSupport defines as classes.
    dataobject = class_attr(support, "DataObject", "_wsdlName", env)
    model.add_data(
        "vmodl.DataObject",
        dataobject,
        None,
        class_attr(support, "DataObject", "_version", env),
        [],
        SUPPORT_FILE,
    )
    model.managed.add("vmodl.ManagedObject")

    for fname in TYPEINFO_FILES:
        tree = ast.parse(sources[fname], fname)
        for node in tree.body:
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
                continue
            call = node.value
            if not isinstance(call.func, ast.Name):
                continue
            where = f"{fname}:{node.lineno}"
            if call.func.id == "CreateDataType":
                vmodl, wsdl, parent, version, props = [evaluate(a, env) for a in call.args]
                model.add_data(vmodl, wsdl, parent, version, props, where)
            elif call.func.id == "CreateEnumType":
                vmodl, wsdl, version, values = [evaluate(a, env) for a in call.args]
                if wsdl in model.enums:
                    raise GenError(f"{where}: enum {wsdl} defined twice")
                model.enums[wsdl] = dict(vmodl=vmodl, version=version, values=values)
                model.enum_by_vmodl[vmodl] = wsdl
            elif call.func.id == "CreateManagedType":
                model.managed.add(evaluate(call.args[0], env))
            elif call.func.id == "AddVersion":
                version, ns, version_id, _legacy, service_ns = [evaluate(a, env) for a in call.args]
                model.versions.setdefault(version, dict(ns=ns, id=version_id, service_ns=service_ns))
                model.parents.setdefault(version, {version})
            elif call.func.id == "AddVersionParent":
                version, parent = [evaluate(a, env) for a in call.args]
                model.parents.setdefault(version, {version}).add(parent)
        for node in tree.body:
            # oldestVersions.Add("vim.version.version5")
            if (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and isinstance(node.value.func.value, ast.Name)
                and node.value.func.value.id == "oldestVersions"
                and node.value.func.attr == "Add"
            ):
                model.oldest.add(evaluate(node.value.args[0], env))

    # The fault types VmomiSupport builds by hand once DynamicData is loaded.
    found = set()
    for func in ast.walk(support):
        if not isinstance(func, ast.FunctionDef):
            continue
        local = dict(env)
        for stmt in ast.walk(func):
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                try:
                    local[stmt.targets[0].id] = evaluate(stmt.value, local)
                except GenError:
                    pass
        for call in ast.walk(func):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in ("CreateDataType", "CreateAndLoadDataType")
                and call.args
                and isinstance(call.args[0], ast.Constant)
                and call.args[0].value in HAND_BUILT
                and call.args[0].value not in found
            ):
                vmodl, wsdl, parent, version, props = [evaluate(a, local) for a in call.args]
                model.add_data(vmodl, wsdl, parent, version, props, f"{SUPPORT_FILE}:{call.lineno}")
                found.add(vmodl)
    missing = set(HAND_BUILT) - found
    if missing:
        raise GenError(f"{SUPPORT_FILE}: hand-built types not found: {sorted(missing)}")
    return model


# --------------------------------------------------------------------------------------------
# govmomi

STRUCT_RE = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.M | re.S)
FIELD_RE = re.compile(r"^(\w+)\s+(\S+)\s+`([^`]*)`$")
XML_TAG_RE = re.compile(r'xml:"([^"]*)"')
ENUM_RE = re.compile(r"^type (\w+) string$", re.M)
ENUM_VALUE_RE = re.compile(r'^\s*\w+\s*=\s*(\w+)\("([^"]*)"\)$', re.M)
IFACE_RE = re.compile(r"^type Base(\w+) interface \{", re.M)


class GoField:
    def __init__(self, name, typ, tag):
        self.name = name
        self.typ = typ
        m = XML_TAG_RE.search(tag)
        if not m:
            raise GenError(f"govmomi field {name}: no xml tag in `{tag}`")
        parts = m.group(1).split(",")
        self.xml = parts[0]
        self.options = parts[1:]

    @property
    def omitempty(self):
        return "omitempty" in self.options


class GoModel:
    def __init__(self):
        self.structs = {}  # name -> (embedded base or None, [GoField])
        self.enums = {}  # name -> [values]
        self.interfaces = set()  # X of BaseX


def is_method_struct(name):
    return name.endswith("RequestType") or name.endswith("Response") or name.endswith("Body")


def load_govmomi(sources):
    model = GoModel()
    for m in STRUCT_RE.finditer(sources["types.go"]):
        name, body = m.group(1), m.group(2)
        if is_method_struct(name):
            continue
        base, fields = None, []
        for line in body.split("\n"):
            s = line.strip()
            if not s or s.startswith("//"):
                continue
            if re.fullmatch(r"\w+", s):
                if fields or base:
                    raise GenError(f"types.go: {name}: embedded {s} is not the first line")
                base = s
                continue
            fm = FIELD_RE.match(s)
            if not fm:
                raise GenError(f"types.go: {name}: cannot parse field line `{s}`")
            fields.append(GoField(*fm.groups()))
        model.structs[name] = (base, fields)
    enum_src = sources["enum.go"]
    for m in ENUM_RE.finditer(enum_src):
        model.enums[m.group(1)] = []
    for m in ENUM_VALUE_RE.finditer(enum_src):
        if m.group(1) in model.enums:
            model.enums[m.group(1)].append(m.group(2))
    model.interfaces = set(IFACE_RE.findall(sources["if.go"]))
    return model


# --------------------------------------------------------------------------------------------
# The merged catalogue


class Field:
    __slots__ = ("xml", "go", "kind", "flags", "version")

    def __init__(self, xml, go, kind, flags, version):
        self.xml, self.go, self.kind, self.flags, self.version = xml, go, kind, flags, version


class Type:
    __slots__ = ("name", "base", "fields", "version", "in_go")

    def __init__(self, name, base, fields, version, in_go):
        self.name, self.base, self.fields, self.version, self.in_go = (
            name,
            base,
            fields,
            version,
            in_go,
        )


def capitalise(name):
    return name[:1].upper() + name[1:]


class Builder:
    def __init__(self, py, go):
        self.py = py
        self.go = go
        self.unmapped = []
        self.kind_mismatches = []

    # Kinds are ("String",) style tuples; ("Data", name) and ("Enum", name) are resolved to
    # indexes when the tables are written.

    def is_fault(self, wsdl):
        while wsdl is not None:
            if wsdl == "MethodFault":
                return True
            parent = self.py.data[wsdl]["parent"]
            wsdl = self.py.data_by_vmodl.get(parent) if parent else None
        return False

    def py_kind(self, typ, pyflags, where):
        elem = typ[:-2] if typ.endswith("[]") else typ
        if elem in PY_PRIMITIVES:
            kind = (PY_PRIMITIVES[elem],)
        elif elem in self.py.managed:
            kind = ("MoRef",)
        elif elem in self.py.enum_by_vmodl:
            kind = ("Enum", self.py.enum_by_vmodl[elem])
        elif elem in self.py.data_by_vmodl:
            kind = ("Data", self.py.data_by_vmodl[elem])
            if where != "LocalizedMethodFault.fault" and self.is_fault(kind[1]):
                # pyVmomi's SoapAdapter sends and receives a fault-typed property as a
                # LocalizedMethodFault wrapping the fault (only LocalizedMethodFault.fault holds the
                # fault itself); the WSDL and govmomi declare these fields LocalizedMethodFault.
                kind = ("Data", "LocalizedMethodFault")
        else:
            self.unmapped.append(f"{where}: pyVmomi type {typ}")
            return ("String",)
        if pyflags & self.py.flags["F_LINK"]:
            # A link holds the key of the linked object: an xsd:string on the wire.
            if kind[0] not in ("Data", "MoRef"):
                self.unmapped.append(f"{where}: F_LINK to non-object type {typ}")
            return ("String",)
        return kind

    def go_kind(self, typ, where, wrapper=False):
        """(kind, is_array, is_pointer, is_interface) of a Go field type.

        `[]byte` is xsd:base64Binary, except in an `ArrayOfX` wrapper, whose one field is always
        the repeated element (`ArrayOfByte { Byte []byte }`).
        """
        pointer = typ.startswith("*")
        t = typ.lstrip("*")
        array = False
        if t.startswith("[]") and (t != "[]byte" or wrapper):
            array = True
            t = t[2:]
        interface = False
        if t in GO_PRIMITIVES:
            kind = (GO_PRIMITIVES[t],)
            interface = t == "AnyType"
        elif t.startswith("Base") and t[4:] in self.go.interfaces:
            kind = ("Data", t[4:])
            interface = True
        elif t in self.go.enums or t in self.py.enums:
            kind = ("Enum", t)
        elif t in self.go.structs or t in self.py.data:
            kind = ("Data", t)
        else:
            self.unmapped.append(f"{where}: Go type {typ}")
            kind = ("String",)
        return kind, array, pointer, interface

    def go_flags(self, gf, where):
        wrapper = where.startswith("ArrayOf")
        kind, array, pointer, interface = self.go_kind(gf.typ, where, wrapper)
        flags = IN_GO
        if pointer:
            flags |= GO_POINTER
        if gf.omitempty:
            flags |= OMITEMPTY
        if interface:
            flags |= GO_INTERFACE
        if gf.typ.lstrip("*") == "[]byte" and not wrapper:
            flags |= GO_BYTES
        return kind, array, flags

    def build_fields(self, name, py_props, go_fields):
        pyf = self.py.flags
        by_xml = {}
        for p in py_props:
            by_xml[p[0]] = p
        out = []
        seen = set()
        for gf in go_fields:
            where = f"{name}.{gf.xml or gf.name}"
            gkind, garray, flags = self.go_flags(gf, where)
            p = by_xml.get(gf.xml) if gf.xml else None
            if p is not None:
                pname, ptyp, pver, pfl = p
                seen.add(pname)
                kind = self.py_kind(ptyp, pfl, where)
                if ptyp.endswith("[]"):
                    flags |= ARRAY
                if pfl & pyf["F_OPTIONAL"]:
                    flags |= OPTIONAL
                if pfl & pyf["F_SECRET"]:
                    flags |= SECRET
                if kind != gkind or bool(flags & ARRAY) != garray:
                    self.kind_mismatches.append(
                        f"{where}: pyVmomi {ptyp} -> {kind_text_raw(kind)}{'[]' if flags & ARRAY else ''}, "
                        f"Go {gf.typ} -> {kind_text_raw(gkind)}{'[]' if garray else ''}"
                    )
                out.append(Field(gf.xml, gf.name, kind, flags, pver))
            else:
                if garray:
                    flags |= ARRAY
                if gf.omitempty:
                    flags |= OPTIONAL
                out.append(Field(gf.xml, gf.name, gkind, flags, ""))
        for p in py_props:
            pname, ptyp, pver, pfl = p
            if pname in seen:
                continue
            where = f"{name}.{pname}"
            kind = self.py_kind(ptyp, pfl, where)
            flags = 0
            if ptyp.endswith("[]"):
                flags |= ARRAY
            if pfl & pyf["F_OPTIONAL"]:
                flags |= OPTIONAL
            if pfl & pyf["F_SECRET"]:
                flags |= SECRET
            out.append(Field(pname, capitalise(pname), kind, flags, pver))
        names = [f.xml for f in out]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise GenError(f"{name}: duplicate fields {sorted(dup)}")
        return out

    def build(self):
        py, go = self.py, self.go
        types = {}
        base_mismatches = []

        # pyVmomi data types, overlaid with govmomi.
        for wsdl, d in py.data.items():
            parent = d["parent"]
            base = None
            if parent is not None:
                if parent not in py.data_by_vmodl:
                    self.unmapped.append(f"{wsdl}: parent {parent}")
                else:
                    base = py.data_by_vmodl[parent]
            if wsdl in BASE_OVERRIDES:
                warn(f"{wsdl}: pyVmomi base {base}; using the schema's {BASE_OVERRIDES[wsdl]} (as govmomi)")
                base = BASE_OVERRIDES[wsdl]
            go_fields = []
            in_go = wsdl in go.structs
            if in_go:
                go_base, go_fields = go.structs[wsdl]
                # govmomi has no DataObject: a struct without an embedded base matches it.
                if go_base != base and not (go_base is None and base == "DataObject"):
                    base_mismatches.append((wsdl, base, go_base))
            types[wsdl] = Type(wsdl, base, self.build_fields(wsdl, d["props"], go_fields), d["version"], in_go)

        # govmomi structs pyVmomi lacks (including the ArrayOf wrappers).
        for name, (go_base, go_fields) in go.structs.items():
            if name in types:
                continue
            if go_base is not None and go_base not in go.structs and go_base not in py.data:
                self.unmapped.append(f"{name}: Go base {go_base}")
            types[name] = Type(name, go_base, self.build_fields(name, [], go_fields), "", True)

        # ArrayOf wrappers govmomi lacks.
        def synth(array_name, elem_name, kind, version):
            if array_name in types:
                if not types[array_name].name.startswith("ArrayOf"):
                    raise GenError(f"{array_name} collides with a data type")
                return
            types[array_name] = Type(
                array_name,
                None,
                [Field(elem_name, capitalise(elem_name), kind, ARRAY | OPTIONAL, version)],
                version,
                False,
            )

        for wsdl, d in py.data.items():
            synth("ArrayOf" + wsdl, wsdl, ("Data", wsdl), d["version"])
        for wsdl, e in py.enums.items():
            synth("ArrayOf" + wsdl, wsdl, ("Enum", wsdl), e["version"])
        synth("ArrayOfManagedObjectReference", "ManagedObjectReference", ("MoRef",), "")
        for xsd, kind in PRIMITIVE_ARRAYS:
            synth("ArrayOf" + capitalise(xsd), xsd, (kind,), "")

        # Enums: pyVmomi's, plus the govmomi enums pyVmomi lacks.
        enums = {wsdl: e["values"] for wsdl, e in py.enums.items()}
        go_only_enums = []
        for name, values in go.enums.items():
            if name not in enums:
                enums[name] = values
                go_only_enums.append(name)

        self.base_mismatches = base_mismatches
        self.go_only_enums = go_only_enums
        return types, enums


def kind_text_raw(kind):
    return kind[0] if len(kind) == 1 else f"{kind[0]}({kind[1]})"


# --------------------------------------------------------------------------------------------
# Output


def rust_str(s):
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= ord(ch) < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\u{{{ord(ch):x}}}")
    out.append('"')
    return "".join(out)


class Names:
    """The string table: every name once, back to back; a name is (offset, length) in it."""

    def __init__(self):
        self.parts = []
        self.at = {}
        self.size = 0

    def add(self, s):
        if s not in self.at:
            if len(s) > 0xFF or not s.isascii():
                raise GenError(f"name {s!r} is not ASCII of at most 255 bytes")
            self.at[s] = self.size
            self.parts.append(s)
            self.size += len(s)
            if self.size > 0xFFFFFF:
                raise GenError("the string table outgrew 24-bit offsets")
        return f"n({self.at[s]}, {len(s)})"

    def render(self):
        # Lines of about 100 characters, split between names.
        lines, line = [], ""
        for s in self.parts:
            if line and len(line) + len(s) > 100:
                lines.append(line)
                line = ""
            line += s
        if line:
            lines.append(line)
        return lines


def api_releases(py, versions):
    """The vim25 API releases, oldest first, the oldest one servers still serve, and for each of
    `versions` (the catalogue's version names) the index of the oldest release that has it.

    A release is a pyVmomi version of the vim25 namespace; each includes every older one
    (pyVmomi's AddVersionParent lists), so they form one chain, ordered by how many versions
    they include."""
    releases = sorted(
        (v for v, d in py.versions.items() if d["ns"] == "vim25" and d["id"]),
        key=lambda v: len(py.parents.get(v, ())),
    )
    if not releases:
        raise GenError("pyVmomi declares no vim25 versions (AddVersion)")
    for older, newer in zip(releases, releases[1:]):
        if older not in py.parents[newer]:
            raise GenError(f"vim25 versions do not form a chain: {newer} does not include {older}")
    oldest = [i for i, v in enumerate(releases) if v in py.oldest]
    if len(oldest) != 1:
        raise GenError(f"expected one vim25 version in pyVmomi's oldestVersions, found {len(oldest)}")
    since = []
    for v in versions:
        if v == "":
            since.append(0)  # govmomi-only types and fields, primitive arrays: no version
            continue
        hits = [i for i, r in enumerate(releases) if v in py.parents[r]]
        if not hits:
            raise GenError(f"version {v} is in no vim25 release")
        since.append(hits[0])
    if len(releases) > 0xFF:
        raise GenError("too many API releases for u8 indexes")
    return releases, oldest[0], since


def render(types, enums, py):
    type_names = sorted(types)
    enum_names = sorted(enums)
    if len(type_names) > 0xFFFF or len(enum_names) > 0xFFFF:
        raise GenError("too many types for u16 indexes")
    tix = {n: i for i, n in enumerate(type_names)}
    eix = {n: i for i, n in enumerate(enum_names)}
    errors = []
    names = Names()
    versions = sorted({t.version for t in types.values()} | {f.version for t in types.values() for f in t.fields})
    if len(versions) > 0xFF:
        raise GenError("too many API versions for u8 indexes")
    vix = {v: i for i, v in enumerate(versions)}

    def kind_text(kind, where):
        if kind[0] == "Data":
            if kind[1] not in tix:
                errors.append(f"{where}: no data type {kind[1]}")
                return "Kind::Any"
            return f"Kind::Data({tix[kind[1]]})"
        if kind[0] == "Enum":
            if kind[1] not in eix:
                errors.append(f"{where}: no enum {kind[1]}")
                return "Kind::Any"
            return f"Kind::Enum({eix[kind[1]]})"
        return f"Kind::{kind[0]}"

    # Global indexes of every own field, in FIELDS order (type after type).
    field_index = {}
    for name in type_names:
        for f in types[name].fields:
            field_index[id(f)] = len(field_index)
    if len(field_index) > 0xFFFF:
        raise GenError("too many fields for u16 indexes")

    field_lines, type_lines, enum_lines, value_lines, effective_lines = [], [], [], [], []
    n_fields = 0
    n_effective = 0
    for i, name in enumerate(type_names):
        t = types[name]
        effective = effective_fields(types, name)
        if effective:
            effective_lines.append(f"// {name} ({i})")
            effective_lines.append(", ".join(str(field_index[id(f)]) for f in effective) + ",")
        if t.base is None:
            base = "None"
        elif t.base in tix:
            base = f"Some({tix[t.base]})"
        else:
            errors.append(f"{name}: no base type {t.base}")
            base = "None"
        if len(t.fields) > 0xFFFF:
            raise GenError(f"{name}: too many fields")
        type_lines.append(
            f"TypeInfo {{ name: {names.add(name)}, base: {base}, fields_at: {n_fields}, "
            f"fields_len: {len(t.fields)}, effective_at: {n_effective}, effective_len: {len(effective)}, "
            f"version: {vix[t.version]}, in_go: {'true' if t.in_go else 'false'} }}, // {i}"
        )
        n_effective += len(effective)
        if t.fields:
            field_lines.append(f"// {name} ({i})")
        for f in t.fields:
            field_lines.append(
                f"FieldInfo {{ xml: {names.add(f.xml)}, go: {names.add(f.go)}, "
                f"kind: {kind_text(f.kind, name + '.' + f.xml)}, flags: {f.flags}, version: {vix[f.version]} }},"
            )
            n_fields += 1
    n_values = 0
    for name in enum_names:
        values = enums[name]
        enum_lines.append(
            f"EnumInfo {{ name: {names.add(name)}, values_at: {n_values}, values_len: {len(values)} }},"
        )
        if values:
            value_lines.append(", ".join(names.add(v) for v in values) + ",")
        n_values += len(values)
    version_names = ", ".join(names.add(v) for v in versions)
    releases, oldest_served, since = api_releases(py, versions)
    release_names = ", ".join(f"({names.add(py.versions[r]['id'])}, {names.add(r)})" for r in releases)
    version_releases = ", ".join(str(i) for i in since)

    lines = [
        "// @generated by tools/catalogue/generate.py; do not edit.",
        "// Regenerate with tools/catalogue/regenerate.sh (check with --check).",
        f"// Sources: {SCHEMA_SOURCES}.",
        "//",
        "// Field flags: 1 ARRAY, 2 OPTIONAL, 4 IN_GO, 8 GO_POINTER, 16 OMITEMPTY, 32 GO_INTERFACE, 64 SECRET, 128 GO_BYTES.",
        "// Names are n(offset, length) in NAMES; the tables hold no pointers, so they need no",
        "// relocation when the program starts and stay clean, shared, read-only pages.",
        "",
        "use super::{n, EnumInfo, FieldInfo, Kind, Name, TypeInfo};",
        "",
        "/// The inputs the tables were generated from.",
        f"pub const SCHEMA_SOURCES: &str = {rust_str(SCHEMA_SOURCES)};",
        "",
        "/// Every name the tables use, once.",
        "pub(super) static NAMES: &str = concat!(",
    ]
    lines += [f"{rust_str(l)}," for l in names.render()]
    lines += [");", ""]
    lines.append("/// The vSphere API versions types and fields were introduced in.")
    lines.append(f"pub(super) static VERSIONS: [Name; {len(versions)}] = [{version_names}];")
    lines.append("")
    lines.append("/// The vim25 API releases, oldest first (each includes every one before it): the id a")
    lines.append("/// client sends (`SOAPAction: \"urn:vim25/<id>\"`) and pyVmomi's name for the release.")
    lines.append(f"pub(super) static RELEASES: [(Name, Name); {len(releases)}] = [{release_names}];")
    lines.append("")
    lines.append("/// The index in RELEASES of the oldest release servers still serve (pyVmomi's `oldestVersions`).")
    lines.append(f"pub(super) const OLDEST_SERVED: u8 = {oldest_served};")
    lines.append("")
    lines.append("/// For each of VERSIONS, the index in RELEASES of the oldest release that has it (0 for no")
    lines.append("/// version: govmomi-only types and fields, arrays of primitives).")
    lines.append(f"pub(super) static VERSION_RELEASES: [u8; {len(versions)}] = [{version_releases}];")
    lines.append("")
    lines.append("/// The own fields of every type, type after type (see `TypeInfo::fields_at`).")
    lines.append(f"pub(super) static FIELDS: [FieldInfo; {n_fields}] = [")
    lines += field_lines
    lines += ["];", ""]
    lines.append("/// Every field of every type, own or inherited, as indexes into FIELDS (see")
    lines.append("/// `TypeInfo::effective_fields`).")
    lines.append(f"pub(super) static EFFECTIVE: [u16; {n_effective}] = [")
    lines += effective_lines
    lines += ["];", ""]
    lines.append("/// Every data type, sorted by name.")
    lines.append(f"pub static TYPES: [TypeInfo; {len(type_names)}] = [")
    lines += type_lines
    lines += ["];", ""]
    lines.append("/// The values of every enum, enum after enum (see `EnumInfo::values_at`).")
    lines.append(f"pub(super) static ENUM_VALUES: [Name; {n_values}] = [")
    lines += value_lines
    lines += ["];", ""]
    lines.append("/// Every enum type, sorted by name.")
    lines.append(f"pub static ENUMS: [EnumInfo; {len(enum_names)}] = [")
    lines += enum_lines
    lines.append("];")
    if errors:
        raise GenError("unresolved references:\n  " + "\n  ".join(errors))
    return "\n".join(lines) + "\n"


def effective_fields(types, name):
    """Every field of a type, own or inherited, once: base fields first in catalogue order; a
    field redeclared further down the chain (same Go name or XML name) is left out where the
    base declares it, so the subtype's declaration keeps its own position (Go's rule for
    embedded structs, and the declaration a lookup by XML name from the type finds)."""
    chain = []
    t = name
    while t is not None:
        chain.append(types[t])
        t = types[t].base
    chain.reverse()
    every = [f for t in chain for f in t.fields]
    go_rule = [
        f for i, f in enumerate(every) if not any(g.go == f.go or g.xml == f.xml for g in every[i + 1 :])
    ]
    xml_rule = [f for i, f in enumerate(every) if not any(g.xml == f.xml for g in every[i + 1 :])]
    if [id(f) for f in go_rule] != [id(f) for f in xml_rule]:
        raise GenError(f"{name}: a field shadows a base field by Go name only; the decoder and the encoders would disagree")
    return go_rule


def check_acyclic(types):
    for name in types:
        seen = set()
        t = name
        while t is not None:
            if t in seen:
                raise GenError(f"{name}: cyclic base chain")
            seen.add(t)
            t = types[t].base if t in types else None


def is_a(types, name, ancestor):
    while name is not None:
        if name == ancestor:
            return True
        name = types[name].base
    return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheel", help="the pyvmomi-9.1.1.0 wheel (.whl)")
    src.add_argument("--pyvmomi-dir", help="an extracted pyVmomi package directory instead of the wheel")
    ap.add_argument("--govmomi", required=True, help="the govmomi module directory (go mod download's Dir)")
    ap.add_argument("--out", required=True, help="the generated.rs to write ('-' for stdout)")
    ap.add_argument("--verbose", action="store_true", help="also list pyVmomi/Go kind differences")
    args = ap.parse_args(argv)

    try:
        py = load_pyvmomi(read_pyvmomi_sources(args.wheel, args.pyvmomi_dir))
        go = load_govmomi(read_go_sources(args.govmomi))
        b = Builder(py, go)
        types, enums = b.build()
        if b.unmapped:
            raise GenError("unmapped types:\n  " + "\n  ".join(b.unmapped))
        check_acyclic(types)
        for wsdl, base, go_base in b.base_mismatches:
            warn(f"{wsdl}: pyVmomi base {base}, govmomi embeds {go_base}; using pyVmomi's")
        if args.verbose:
            for m in b.kind_mismatches:
                print(f"generate.py: note: {m}", file=sys.stderr)
        text = render(types, enums, py)
    except (GenError, OSError, zipfile.BadZipFile, SyntaxError) as e:
        print(f"generate.py: error: {e}", file=sys.stderr)
        return 1

    if args.out == "-":
        sys.stdout.write(text)
    else:
        tmp = args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, args.out)

    n_fields = sum(len(t.fields) for t in types.values())
    n_events = sum(1 for n in types if is_a(types, n, "Event"))
    n_go_only = sum(1 for t in types.values() if t.in_go and t.name not in py.data)
    n_synth = sum(1 for t in types.values() if not t.in_go and t.name not in py.data)
    print(
        f"generate.py: {len(types)} types ({len(py.data)} pyVmomi, {n_go_only} govmomi-only, "
        f"{n_synth} synthesised ArrayOf), {len(enums)} enums ({len(b.go_only_enums)} govmomi-only), "
        f"{n_fields} fields, {n_events} event types, {len(b.kind_mismatches)} pyVmomi/Go kind "
        f"differences (pyVmomi's kind used)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
