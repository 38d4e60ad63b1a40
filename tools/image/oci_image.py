#!/usr/bin/env python3
"""Assemble an OCI image from static binaries, without a container engine, reproducibly.

    oci_image.py --name vsphere-adapter --tag 0.1.0 \\
        --binary linux/amd64=target/x86_64-unknown-linux-musl/release/vsphere-adapter \\
        --ca-bundle cacert.pem --port 9090 --created 1764979200 --out out/images

writes
  out/images/vsphere-adapter/       an OCI image layout (oci-layout, index.json, blobs/sha256/...)
  out/images/vsphere-adapter.tar    the same layout plus Docker's manifest.json: `docker load -i`
                                    takes it (both the classic and the containerd image store)
and prints one line, `vsphere-adapter sha256:<digest>`: the digest of the image manifest (one
platform) or of the image index (several `--binary` platforms). Pushing the layout without
recompressing (`skopeo copy --all --preserve-digests oci:out/images/vsphere-adapter:0.1.0
docker://REGISTRY/vsphere-adapter:0.1.0`) keeps that digest, which `config/release.sh` puts in
release.yaml.

Each image has two layers:
  1. the base, the same for every image of a release: /etc/passwd and /etc/group (root, nobody,
     nonroot = 65532), the CA bundle at /etc/ssl/certs/ca-certificates.crt, /tmp (1777),
     /home/nonroot (owned by 65532) and /root; no shell, no libc (the binaries are static);
  2. the binary at /<name>, mode 0755, owned by root.
The config runs /<name> as 65532:65532 in /home/nonroot.

Reproducible: every byte follows from the inputs (binaries, CA bundle, the arguments). Tar
entries are sorted and carry mtime 0, uid/gid numbers without names, fixed modes; gzip headers
carry no name and mtime 0 (the compressed bytes also depend on zlib's version, which is part of
the build machine); JSON is written with a fixed key order; `created` comes from --created
(SOURCE_DATE_EPOCH, the last commit's time in scripts/build-images.sh), never from the clock.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile

NONROOT = 65532
NOBODY = 65534

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

# OCI platform names of the architectures this project builds.
PLATFORMS = {
    "linux/amd64": {"architecture": "amd64", "os": "linux"},
    "linux/arm64": {"architecture": "arm64", "os": "linux", "variant": "v8"},
}

PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    f"nobody:x:{NOBODY}:{NOBODY}:nobody:/nonexistent:/sbin/nologin\n"
    f"nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
)
GROUP = f"root:x:0:\nnobody:x:{NOBODY}:\nnonroot:x:{NONROOT}:\n"


def die(msg: str) -> None:
    print(f"oci_image.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def canonical_json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Entry:
    """One tar entry: a directory (data None) or a regular file."""

    def __init__(self, path: str, mode: int, uid: int = 0, gid: int = 0, data: bytes | None = None):
        self.path, self.mode, self.uid, self.gid, self.data = path, mode, uid, gid, data


def layer_tar(entries: list[Entry]) -> bytes:
    """An uncompressed layer tar whose bytes depend only on the entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for e in sorted(entries, key=lambda e: e.path):
            info = tarfile.TarInfo(e.path + ("/" if e.data is None else ""))
            info.mode, info.uid, info.gid = e.mode, e.uid, e.gid
            info.uname = info.gname = ""
            info.mtime = 0
            if e.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.type = tarfile.REGTYPE
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    # No file name, mtime 0, OS byte "unknown": the header is fixed.
    return gzip.compress(data, compresslevel=9, mtime=0)


class Blobs:
    """The blobs of an image layout, by digest."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def add(self, data: bytes, media_type: str, **extra: object) -> dict:
        digest = sha256(data)
        self.blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}


def base_entries(ca_bundle: bytes) -> list[Entry]:
    return [
        Entry("etc", 0o755),
        Entry("etc/passwd", 0o644, data=PASSWD.encode()),
        Entry("etc/group", 0o644, data=GROUP.encode()),
        Entry("etc/ssl", 0o755),
        Entry("etc/ssl/certs", 0o755),
        Entry("etc/ssl/certs/ca-certificates.crt", 0o644, data=ca_bundle),
        Entry("home", 0o755),
        Entry("home/nonroot", 0o700, NONROOT, NONROOT),
        Entry("root", 0o700),
        Entry("tmp", 0o1777),
    ]


def check_static(path: str, binary: bytes, platform: str) -> None:
    """Refuses a binary that is not an ELF executable of the platform or needs a loader."""
    machines = {"linux/amd64": 62, "linux/arm64": 183}
    if binary[:4] != b"\x7fELF" or binary[4] != 2 or binary[5] != 1:
        die(f"{path} is not a 64-bit little-endian ELF file")
    machine = int.from_bytes(binary[18:20], "little")
    if machine != machines[platform]:
        die(f"{path} is built for ELF machine {machine}, not {platform} ({machines[platform]})")
    # A PT_INTERP program header means a dynamic loader (/lib/ld-*.so), absent in these images.
    phoff = int.from_bytes(binary[32:40], "little")
    phentsize = int.from_bytes(binary[54:56], "little")
    phnum = int.from_bytes(binary[56:58], "little")
    for i in range(phnum):
        off = phoff + i * phentsize
        if int.from_bytes(binary[off : off + 4], "little") == 3:
            die(f"{path} is dynamically linked (it names a program interpreter); build it static (musl)")


def build(args: argparse.Namespace) -> str:
    created_ts = datetime.datetime.fromtimestamp(int(args.created), datetime.timezone.utc)
    created = created_ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(args.ca_bundle, "rb") as f:
        ca_bundle = f.read()
    if b"-----BEGIN CERTIFICATE-----" not in ca_bundle:
        die(f"{args.ca_bundle} holds no PEM certificate")

    labels = {
        "org.opencontainers.image.title": args.name,
        "org.opencontainers.image.version": args.tag,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    for kv in args.label:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            die(f"--label {kv!r}: expected KEY=VALUE")
        labels[k] = v

    blobs = Blobs()
    base_tar = layer_tar(base_entries(ca_bundle))
    base_layer = blobs.add(gzip_bytes(base_tar), MEDIA_LAYER)

    manifests = []
    docker_manifest = None
    for spec in args.binary:
        platform, sep, path = spec.partition("=")
        if not sep or platform not in PLATFORMS:
            die(f"--binary {spec!r}: expected PLATFORM=PATH with PLATFORM one of {sorted(PLATFORMS)}")
        with open(path, "rb") as f:
            binary = f.read()
        check_static(path, binary, platform)
        app_tar = layer_tar([Entry(args.name, 0o755, data=binary)])
        app_layer = blobs.add(gzip_bytes(app_tar), MEDIA_LAYER)
        config = {
            "created": created,
            "author": "vmware-sources",
            **PLATFORMS[platform],
            "config": {
                "User": f"{NONROOT}:{NONROOT}",
                "Env": ["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
                "Entrypoint": [f"/{args.name}"],
                "WorkingDir": "/home/nonroot",
                "Labels": labels,
                **({"ExposedPorts": {f"{p}/tcp": {} for p in args.port}} if args.port else {}),
            },
            "rootfs": {"type": "layers", "diff_ids": [sha256(base_tar), sha256(app_tar)]},
            "history": [
                {"created": created, "created_by": "tools/image/oci_image.py: base files"},
                {"created": created, "created_by": f"tools/image/oci_image.py: /{args.name}"},
            ],
        }
        config_desc = blobs.add(canonical_json(config), MEDIA_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": config_desc,
            "layers": [base_layer, app_layer],
            "annotations": {"org.opencontainers.image.created": created},
        }
        desc = blobs.add(canonical_json(manifest), MEDIA_MANIFEST, platform=PLATFORMS[platform])
        manifests.append(desc)
        if docker_manifest is None or platform == "linux/amd64":
            docker_manifest = (config_desc, [base_layer, app_layer])

    if len(manifests) == 1:
        top = manifests[0]
    else:
        index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}
        top = blobs.add(canonical_json(index), MEDIA_INDEX)

    image_name = f"{args.repository}/{args.name}:{args.tag}" if args.repository else f"{args.name}:{args.tag}"
    layout_index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [
            {
                **top,
                "annotations": {
                    "io.containerd.image.name": image_name,
                    "org.opencontainers.image.ref.name": args.tag,
                },
            }
        ],
    }
    files: dict[str, bytes] = {
        "oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
        "index.json": canonical_json(layout_index),
    }
    for digest, data in blobs.blobs.items():
        files["blobs/sha256/" + digest.split(":", 1)[1]] = data

    # The layout directory.
    out_dir = os.path.join(args.out, args.name)
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    for rel, data in files.items():
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    # The docker-loadable tar: the layout plus manifest.json for the classic image store (which
    # loads the amd64 image, or the first platform given).
    config_desc, layers = docker_manifest
    files["manifest.json"] = canonical_json(
        [
            {
                "Config": "blobs/sha256/" + config_desc["digest"].split(":", 1)[1],
                "RepoTags": [image_name],
                "Layers": ["blobs/sha256/" + layer["digest"].split(":", 1)[1] for layer in layers],
            }
        ]
    )
    dirs = {"blobs", "blobs/sha256"}
    entries = [Entry(d, 0o755) for d in dirs] + [Entry(p, 0o644, data=d) for p, d in files.items()]
    tar_path = os.path.join(args.out, args.name + ".tar")
    with open(tar_path + ".tmp", "wb") as f:
        f.write(layer_tar(entries))
    os.replace(tar_path + ".tmp", tar_path)
    return top["digest"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, help="image and binary name; the entrypoint is /NAME")
    p.add_argument("--tag", required=True, help="the tag written in the layout and the tar")
    p.add_argument("--repository", default="", help="repository prefix of the name in the tar (e.g. vmware-sources)")
    p.add_argument(
        "--binary",
        action="append",
        required=True,
        metavar="PLATFORM=PATH",
        help="a static binary for linux/amd64 or linux/arm64; repeat for a multi-platform image",
    )
    p.add_argument("--ca-bundle", required=True, help="PEM CA bundle for /etc/ssl/certs/ca-certificates.crt")
    p.add_argument("--port", action="append", type=int, default=[], help="an exposed TCP port (repeatable)")
    p.add_argument("--created", required=True, help="creation time, seconds since the epoch (SOURCE_DATE_EPOCH)")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="an image label (repeatable)")
    p.add_argument("--out", required=True, help="output directory")
    args = p.parse_args()
    if not args.created.isdigit():
        die(f"--created {args.created!r}: expected seconds since the epoch")
    digest = build(args)
    print(f"{args.name} {digest}")


if __name__ == "__main__":
    main()
