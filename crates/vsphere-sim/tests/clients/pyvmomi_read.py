"""Read a vCenter's event history with pyVmomi, as its users do, and print a JSON summary.

SmartConnect (which picks the API release from /sdk/vimServiceVersions.xml), the service
content, CurrentTime, an EventHistoryCollector read to the end with ReadNextEvents, and the
properties read through Fetch: the collector's latestPage, the EventManager's latestEvent,
maxCollector and description, the SessionManager's currentSession.

Run by crates/vsphere-sim/tests/clients.rs with the Python of scripts/install-test-deps.sh.
"""

import argparse
import json
import ssl
import sys

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import VmomiSupport, vim


def newer_than(obj, version, path, out):
    """Types and set fields of `obj` (recursively) that `version` does not have."""
    t = type(obj)
    if not VmomiSupport.IsChildVersion(version, t._version):
        out.append(f"{path}: type {t._wsdlName} is {t._version}")
    for prop in t._GetPropertyList():
        value = getattr(obj, prop.name, None)
        # Unset: None, or the default of a required primitive or array.
        if value is None or value is False or (isinstance(value, (str, list)) and not value):
            continue
        if not VmomiSupport.IsChildVersion(version, prop.version):
            out.append(f"{path}.{prop.name} is {prop.version}")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, VmomiSupport.DataObject):
                newer_than(item, version, f"{path}.{prop.name}", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--version", help="pyVmomi version to ask for (default: SmartConnect's choice)")
    ap.add_argument("--check-versions", action="store_true", help="check every event's types and fields")
    args = ap.parse_args()

    kwargs = {}
    if args.version:
        kwargs["preferredApiVersions"] = args.version
    context = ssl.create_default_context(cafile=args.cafile)
    si = SmartConnect(host=args.host, port=args.port, user=args.user, pwd=args.password,
                      sslContext=context, **kwargs)
    stub_version = si._stub.version
    content = si.RetrieveContent()
    about = content.about
    clock = si.CurrentTime()

    collector = content.eventManager.CreateCollectorForEvents(filter=vim.event.EventFilterSpec())
    count, first, last, ascending = 0, None, None, True
    types, newer = {}, []
    while True:
        page = collector.ReadNextEvents(1000)
        if not page:
            break
        for event in page:
            if last is not None and event.key <= last:
                ascending = False
            if first is None:
                first = event.key
            last = event.key
            count += 1
            name = type(event)._wsdlName
            types[name] = types.get(name, 0) + 1
            if args.check_versions and len(newer) < 20:
                newer_than(event, stub_version, f"{name}[{event.key}]", newer)

    latest_page = [e.key for e in collector.latestPage]
    manager = content.eventManager
    summary = {
        "stub_version": stub_version,
        "about": {"fullName": about.fullName, "apiVersion": about.apiVersion,
                  "instanceUuid": about.instanceUuid},
        "clock": clock.isoformat(),
        "count": count,
        "first": first,
        "last": last,
        "ascending": ascending,
        "types": types,
        "newer": newer,
        "latest_page": latest_page,
        "latest_event": manager.latestEvent.key,
        "max_collector": manager.maxCollector,
        "event_info": len(manager.description.eventInfo),
        "session_user": content.sessionManager.currentSession.userName,
    }
    collector.DestroyCollector()
    Disconnect(si)
    json.dump(summary, sys.stdout)
    print()


if __name__ == "__main__":
    main()
