#!/usr/bin/env python3
"""Writes crates/vsphere-client/tests/fixtures/bench-page-100.xml: a 100-event ReadNextEvents
page in real-vCenter style for the decoder benchmark (crates/vsphere-client/benches/decode.rs).

The mix follows a busy vCenter: about 10% VmBeingCreatedEvent/VmReconfiguredEvent with full
config specs (several devices of different concrete types), some fault-bearing events
(VmFailedToPowerOnEvent, failed TaskEvents, EventEx with a fault), and the rest ordinary VM,
host, alarm, user-session and EventEx events. Keys ascend. The output is deterministic (fixed
seed, fixed start time), so rerunning this script reproduces the committed file byte for byte:

    python3 tools/make-bench-page.py            # or: python3 tools/make-bench-page.py OUT.xml

Standard library only.
"""

import datetime
import os
import random
import sys
from xml.sax.saxutils import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(
    ROOT, "crates", "vsphere-client", "tests", "fixtures", "bench-page-100.xml"
)
EVENTS = 100
FIRST_KEY = 80001

HOSTS = [("esx-%02d.lab.example.com" % i, "host-%d" % (10 + 3 * i)) for i in range(1, 9)]
VMS = [("app-%03d" % i, "vm-%d" % (100 + i)) for i in range(1, 41)]
USERS = ["VSPHERE.LOCAL\\Administrator", "VSPHERE.LOCAL\\ops", "LAB\\jdoe", "VSPHERE.LOCAL\\svc-backup"]
DATASTORES = [("vsanDatastore", "datastore-33"), ("nfs-archive", "datastore-41")]


def el(name, text):
    return "<%s>%s</%s>" % (name, escape(str(text)), name)


def moref(name, kind, value):
    return '<%s type="%s">%s</%s>' % (name, kind, value, name)


def arg(name, entity_name, field, kind, value):
    return "<%s>%s%s</%s>" % (name, el("name", entity_name), moref(field, kind, value), name)


def xml_time(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Page:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.key = FIRST_KEY
        self.time = datetime.datetime(2026, 3, 21, 8, 0, 0, 0)

    def base(self, host=None, vm=None, ds=None, user=None, message=""):
        """The Event base fields; returns (xml, key)."""
        rng = self.rng
        key = self.key
        self.key += 1
        self.time += datetime.timedelta(microseconds=rng.randrange(50_000, 4_000_000))
        user = user if user is not None else rng.choice(USERS)
        parts = [
            el("key", key),
            el("chainId", key if rng.random() < 0.7 else key - rng.randrange(1, 5)),
            el("createdTime", xml_time(self.time)),
            el("userName", user),
            arg("datacenter", "Datacenter", "datacenter", "Datacenter", "datacenter-3"),
        ]
        if host is not None:
            parts.append(arg("computeResource", "Cluster-A", "computeResource", "ClusterComputeResource", "domain-c8"))
            parts.append(arg("host", host[0], "host", "HostSystem", host[1]))
        if vm is not None:
            parts.append(arg("vm", vm[0], "vm", "VirtualMachine", vm[1]))
        if ds is not None:
            parts.append(arg("ds", ds[0], "datastore", "Datastore", ds[1]))
        parts.append(el("fullFormattedMessage", message))
        return "".join(parts), key

    def returnval(self, ty, body):
        return '<returnval xsi:type="%s">%s</returnval>' % (ty, body)

    # --- ordinary events -------------------------------------------------------------------

    def vm_event(self, ty, verb, extra=""):
        host, vm = self.rng.choice(HOSTS), self.rng.choice(VMS)
        base, _ = self.base(host, vm, message="%s on %s in Datacenter %s" % (vm[0], host[0], verb))
        return self.returnval(ty, base + el("template", "false") + extra)

    def host_event(self, ty, verb):
        host = self.rng.choice(HOSTS)
        base, _ = self.base(host, user="", message="Host %s in Datacenter %s" % (host[0], verb))
        return self.returnval(ty, base)

    def login(self):
        ip = "10.20.%d.%d" % (self.rng.randrange(256), self.rng.randrange(1, 255))
        user = self.rng.choice(USERS)
        agent = self.rng.choice(["VMware vim-java 1.0", "pyvmomi Python/3.12.3 (Linux; 6.8.0; x86_64)", "govc/0.46.3"])
        base, _ = self.base(user=user, message="User %s@%s logged in as %s" % (user, ip, agent))
        body = base + el("ipAddress", ip) + el("userAgent", agent) + el("locale", "en")
        body += el("sessionId", "52b5bd6c-8d31-1bd9-7e4b-%012x" % self.rng.randrange(1 << 48))
        return self.returnval("UserLoginSessionEvent", body)

    def logout(self):
        ip = "10.20.%d.%d" % (self.rng.randrange(256), self.rng.randrange(1, 255))
        user = self.rng.choice(USERS)
        base, _ = self.base(user=user, message="User %s@%s logged out (login time: 08:00, number of API invocations: %d)" % (user, ip, self.rng.randrange(5000)))
        body = base + el("ipAddress", ip) + el("userAgent", "govc/0.46.3") + el("callCount", self.rng.randrange(5000))
        body += el("sessionId", "52b5bd6c-8d31-1bd9-7e4b-%012x" % self.rng.randrange(1 << 48))
        body += el("loginTime", xml_time(self.time - datetime.timedelta(minutes=30)))
        return self.returnval("UserLogoutSessionEvent", body)

    def alarm(self):
        host = self.rng.choice(HOSTS)
        frm, to = self.rng.choice([("green", "yellow"), ("yellow", "red"), ("red", "green")])
        base, _ = self.base(host, user="", message="Alarm 'Host memory usage' on %s changed from %s to %s" % (host[0], frm.capitalize(), to.capitalize()))
        body = base + arg("alarm", "Host memory usage", "alarm", "Alarm", "alarm-7")
        body += arg("source", "Datacenters", "entity", "Folder", "group-d1")
        body += arg("entity", host[0], "entity", "HostSystem", host[1])
        body += el("from", frm) + el("to", to)
        return self.returnval("AlarmStatusChangedEvent", body)

    def event_ex(self, fault=False):
        vm = self.rng.choice(VMS)
        base, _ = self.base(vm=vm, message="Backup of %s %s" % (vm[0], "failed" if fault else "finished"))
        args = [
            ("vmName", "xsd:string", vm[0]),
            ("disks", "xsd:int", self.rng.randrange(1, 8)),
            ("bytes", "xsd:long", self.rng.randrange(1 << 30, 1 << 40)),
            ("incremental", "xsd:boolean", "true"),
            ("startedAt", "xsd:dateTime", xml_time(self.time - datetime.timedelta(minutes=12))),
        ]
        body = base + el("eventTypeId", "com.example.backup.%s" % ("failed" if fault else "finished"))
        body += el("severity", "error" if fault else "info") + el("message", "")
        for k, ty, v in args:
            body += '<arguments><key>%s</key><value xsi:type="%s">%s</value></arguments>' % (k, ty, escape(str(v)))
        body += '<arguments><key>datastores</key><value xsi:type="ArrayOfString"><string>vsanDatastore</string><string>nfs-archive</string></value></arguments>'
        body += el("objectId", vm[1]) + el("objectType", "VirtualMachine") + el("objectName", vm[0])
        if fault:
            body += '<fault><fault xsi:type="SystemError"><reason>Snapshot quiescing timed out &amp; was aborted</reason></fault><localizedMessage>A general system error occurred: Snapshot quiescing timed out</localizedMessage></fault>'
        return self.returnval("EventEx", body)

    # --- fault-bearing events --------------------------------------------------------------

    def failed_power_on(self):
        host, vm = self.rng.choice(HOSTS), self.rng.choice(VMS)
        base, _ = self.base(host, vm, message="Cannot power on %s on %s. in Datacenter. The operation is not allowed in the current state." % (vm[0], host[0]))
        reason = (
            '<reason><fault xsi:type="InvalidState"><faultCause><fault xsi:type="InvalidPowerState">'
            "<requestedState>poweredOn</requestedState><existingState>poweredOn</existingState></fault>"
            "<localizedMessage>The attempted operation cannot be performed in the current state (Powered on).</localizedMessage>"
            "</faultCause></fault><localizedMessage>The operation is not allowed in the current state.</localizedMessage></reason>"
        )
        return self.returnval("VmFailedToPowerOnEvent", base + el("template", "false") + reason)

    def task(self, failed):
        host, vm = self.rng.choice(HOSTS), self.rng.choice(VMS)
        base, key = self.base(host, vm, message="Task: Power On virtual machine")
        user = self.rng.choice(USERS)
        task = "task-%d" % (4000 + key % 1000)
        info = el("key", task) + moref("task", "Task", task) + el("name", "PowerOnVM_Task")
        info += el("descriptionId", "VirtualMachine.powerOn") + moref("entity", "VirtualMachine", vm[1]) + el("entityName", vm[0])
        info += el("state", "error" if failed else "queued") + el("cancelled", "false") + el("cancelable", "true")
        if failed:
            info += '<error><fault xsi:type="NoPermission"><object type="VirtualMachine">%s</object><privilegeId>VirtualMachine.Interact.PowerOn</privilegeId></fault><localizedMessage>Permission to perform this operation was denied.</localizedMessage></error>' % vm[1]
        info += '<reason xsi:type="TaskReasonUser">%s</reason>' % el("userName", user)
        info += el("queueTime", xml_time(self.time)) + el("eventChainId", key)
        return self.returnval("TaskEvent", base + "<info>%s</info>" % info)

    # --- config specs ----------------------------------------------------------------------

    def devices(self, vm, operation):
        rng = self.rng
        ds = rng.choice(DATASTORES)
        kb = rng.choice([16, 40, 100, 250]) * 1024 * 1024
        scsi = (
            '<device xsi:type="ParaVirtualSCSIController"><key>1000</key><deviceInfo><label>SCSI controller 0</label>'
            "<summary>VMware paravirtual SCSI</summary></deviceInfo><controllerKey>100</controllerKey><unitNumber>3</unitNumber>"
            "<busNumber>0</busNumber><hotAddRemove>true</hotAddRemove><sharedBus>noSharing</sharedBus><scsiCtlrUnitNumber>7</scsiCtlrUnitNumber></device>"
        )
        disk = (
            '<device xsi:type="VirtualDisk"><key>2000</key><deviceInfo><label>Hard disk 1</label><summary>%s KB</summary></deviceInfo>'
            '<backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[%s] %s/%s.vmdk</fileName><datastore type="Datastore">%s</datastore>'
            "<diskMode>persistent</diskMode><split>false</split><writeThrough>false</writeThrough><thinProvisioned>true</thinProvisioned>"
            "<eagerlyScrub>false</eagerlyScrub><uuid>6000C29%x-1b2c-3d4e-5f60-718293a4b5c6</uuid><digestEnabled>false</digestEnabled><sharing>sharingNone</sharing></backing>"
            "<controllerKey>1000</controllerKey><unitNumber>0</unitNumber><capacityInKB>%d</capacityInKB><capacityInBytes>%d</capacityInBytes>"
            "<shares><shares>1000</shares><level>normal</level></shares><storageIOAllocation><limit>-1</limit><shares><shares>1000</shares>"
            "<level>normal</level></shares><reservation>0</reservation></storageIOAllocation></device>"
        ) % ("{:,}".format(kb), ds[0], vm[0], vm[0], ds[1], rng.randrange(1 << 16), kb, kb * 1024)
        nic = (
            '<device xsi:type="VirtualVmxnet3"><key>4000</key><deviceInfo><label>Network adapter 1</label><summary>VM Network</summary></deviceInfo>'
            '<backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName><useAutoDetect>false</useAutoDetect>'
            '<network type="Network">network-21</network></backing><connectable><startConnected>true</startConnected><allowGuestControl>true</allowGuestControl>'
            "<connected>false</connected><status>untried</status></connectable><controllerKey>100</controllerKey><unitNumber>7</unitNumber>"
            "<addressType>assigned</addressType><macAddress>00:50:56:8a:%02x:%02x</macAddress><wakeOnLanEnabled>true</wakeOnLanEnabled>"
            "<resourceAllocation><reservation>0</reservation><share><shares>50</shares><level>normal</level></share><limit>-1</limit></resourceAllocation>"
            "<uptCompatibilityEnabled>true</uptCompatibilityEnabled></device>"
        ) % (rng.randrange(256), rng.randrange(256))
        cdrom = (
            '<device xsi:type="VirtualCdrom"><key>3002</key><deviceInfo><label>CD/DVD drive 1</label><summary>Remote device</summary></deviceInfo>'
            '<backing xsi:type="VirtualCdromRemotePassthroughBackingInfo"><deviceName></deviceName><useAutoDetect>false</useAutoDetect><exclusive>false</exclusive></backing>'
            "<connectable><startConnected>false</startConnected><allowGuestControl>true</allowGuestControl><connected>false</connected><status>untried</status></connectable>"
            "<controllerKey>15000</controllerKey><unitNumber>0</unitNumber></device>"
        )
        specs = []
        for i, dev in enumerate([scsi, disk, nic, cdrom]):
            file_op = "<fileOperation>create</fileOperation>" if (i == 1 and operation == "add") else ""
            specs.append("<deviceChange><operation>%s</operation>%s%s</deviceChange>" % (operation, file_op, dev))
        return "".join(specs)

    def config_spec(self, vm, creating):
        rng = self.rng
        cpus = rng.choice([2, 4, 8, 12, 16])
        mem = rng.choice([4096, 8192, 16384, 32768])
        parts = []
        if creating:
            parts += [
                el("name", vm[0]), el("version", "vmx-19"),
                el("uuid", "4214d3b6-1c1f-5c3c-8b4e-%012x" % rng.randrange(1 << 48)),
                el("instanceUuid", "5014a8c2-9e0b-3d4f-a1b2-%012x" % rng.randrange(1 << 48)),
                el("guestId", rng.choice(["rhel9_64Guest", "ubuntu64Guest", "windows2019srv_64Guest"])),
                el("annotation", "Owner: team-%d & friends <ops>" % rng.randrange(10)),
                "<files>%s</files>" % el("vmPathName", "[vsanDatastore] %s/%s.vmx" % (vm[0], vm[0])),
                "<tools><afterPowerOn>true</afterPowerOn><afterResume>true</afterResume><beforeGuestStandby>true</beforeGuestStandby>"
                "<beforeGuestShutdown>true</beforeGuestShutdown><toolsUpgradePolicy>manual</toolsUpgradePolicy><syncTimeWithHost>false</syncTimeWithHost></tools>",
            ]
        else:
            parts.append(el("changeVersion", xml_time(self.time - datetime.timedelta(minutes=3))))
        parts += [el("numCPUs", cpus), el("numCoresPerSocket", cpus // 2 or 1), el("memoryMB", mem), el("cpuHotAddEnabled", "true")]
        parts.append(self.devices(vm, "add" if creating else "edit"))
        parts.append(
            "<cpuAllocation><reservation>0</reservation><expandableReservation>false</expandableReservation><limit>-1</limit>"
            "<shares><shares>%d</shares><level>normal</level></shares></cpuAllocation>" % (cpus * 1000)
        )
        parts.append(
            "<memoryAllocation><reservation>0</reservation><limit>-1</limit><shares><shares>%d</shares><level>normal</level></shares></memoryAllocation>"
            % (mem * 10)
        )
        parts.append('<extraConfig><key>svga.present</key><value xsi:type="xsd:string">TRUE</value></extraConfig>')
        parts.append('<extraConfig><key>numa.autosize.cookie</key><value xsi:type="xsd:string">%d0012</value></extraConfig>' % cpus)
        parts.append(
            "<bootOptions><bootDelay>0</bootDelay><enterBIOSSetup>false</enterBIOSSetup><efiSecureBootEnabled>true</efiSecureBootEnabled>"
            "<bootRetryEnabled>false</bootRetryEnabled><bootRetryDelay>10000</bootRetryDelay><networkBootProtocol>ipv4</networkBootProtocol></bootOptions>"
        )
        parts.append(el("firmware", "efi"))
        return "<configSpec>%s</configSpec>" % "".join(parts)

    def being_created(self):
        host, vm, ds = self.rng.choice(HOSTS), self.rng.choice(VMS), self.rng.choice(DATASTORES)
        base, _ = self.base(host, vm, ds, message="Creating %s on %s, 8 in Datacenter" % (vm[0], host[0]))
        return self.returnval("VmBeingCreatedEvent", base + el("template", "false") + self.config_spec(vm, True))

    def reconfigured(self):
        host, vm = self.rng.choice(HOSTS), self.rng.choice(VMS)
        message = "Reconfigured %s on %s in Datacenter.  \n \nModified:  \n \nconfig.hardware.numCPU: 8 -> 12; \n\nAdded:  \n \nDeleted:  \n \n" % (vm[0], host[0])
        base, _ = self.base(host, vm, message=message)
        body = base + el("template", "false") + self.config_spec(vm, False)
        body += "<configChanges><modified>config.hardware.numCPU: 8 -&gt; 12; </modified><added></added><deleted></deleted></configChanges>"
        return self.returnval("VmReconfiguredEvent", body)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    page = Page(seed=20260321)
    ordinary = [
        lambda: page.vm_event("VmPoweredOnEvent", "is powered on"),
        lambda: page.vm_event("VmPoweredOffEvent", "is powered off"),
        lambda: page.vm_event("VmStartingEvent", "is starting"),
        lambda: page.vm_event("VmStoppingEvent", "is stopping"),
        lambda: page.vm_event("VmResourceReallocatedEvent", "resource allocation changed"),
        lambda: page.vm_event("VmMessageEvent", "has a message", el("message", "Guest OS reported: disk /var is 91% full")),
        lambda: page.host_event("HostConnectionLostEvent", "is not responding"),
        lambda: page.host_event("HostReconnectionFailedEvent", "could not be reconnected"),
        page.login,
        page.logout,
        page.alarm,
        page.event_ex,
    ]
    events = []
    for i in range(EVENTS):
        if i % 10 == 3:
            events.append(page.being_created() if i % 20 == 3 else page.reconfigured())
        elif i % 10 == 7:
            events.append([page.failed_power_on, lambda: page.task(True), lambda: page.event_ex(True)][(i // 10) % 3]())
        else:
            events.append(page.rng.choice(ordinary)())
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n<soapenv:Body>\n'
        '<ReadNextEventsResponse xmlns="urn:vim25">' + "".join(events) + "</ReadNextEventsResponse>\n"
        "</soapenv:Body>\n</soapenv:Envelope>\n"
    )
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(doc)
    print("make-bench-page: wrote %s (%d bytes, %d events)" % (out, len(doc.encode("utf-8")), EVENTS), file=sys.stderr)


if __name__ == "__main__":
    main()
