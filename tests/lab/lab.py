"""The lab launcher (run through tests/lab/lab): builds and runs the simulated vCenter.

  lab up       build if needed, start (the simulator, then the object storage of
               object_storage.py), write tests/lab/.run/env (shell-sourceable)
  lab down     stop it and remove its run folder
  lab status   print the running lab's state as JSON (exit 1 when it is not running)
  lab run -- CMD...   start the lab (unless running), run CMD with its env, stop it if it started it
  lab guest-write VM --offset N (--length N [--seed S] | --source FILE) [--device-key K]
               write as the guest would, through the VM's current leaf (CBT sees it)
  lab inspect VM      per disk: chain, capacity, allocated bytes, SHA-256 of the whole content

Standard library only (but for creating the object storage's buckets, which needs boto3): it
builds before any virtual environment exists.
"""
import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time

import object_storage

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
GO_PATH = os.path.join(LAB_DIR, "go")
BUILD_DIR = os.path.join(LAB_DIR, ".build")
RUN_DIR = os.path.join(LAB_DIR, ".run")
VCSIM_BIN = os.path.join(BUILD_DIR, "vcsim")
# The VDDK double, laid out as a VDDK distribution: <libdir>/lib64/libvixDiskLib.so.8.
VDDK_LIBDIR = os.path.join(BUILD_DIR, "vddk")
VDDK_LIBRARY = os.path.join(VDDK_LIBDIR, "lib64", "libvixDiskLib.so.8")
VDDK_GO_PART = os.path.join(VDDK_LIBDIR, "lib64", "libvadp-vddk-double.so")
VDDK_FRONT = os.path.join(GO_PATH, "front", "vixdisklib_front.c")
DEBIAN_GOPATH = "/usr/share/gocode"
LAB_USER = "administrator@vsphere.local"
START_TIMEOUT = 30


def _fail(message):
    sys.stderr.write("lab: %s\n" % message)
    sys.exit(1)


SIMULATOR_EXT = os.path.join(LAB_DIR, "simulator-ext")
STOCK_SIMULATOR = os.path.join(DEBIAN_GOPATH, "src/github.com/vmware/govmomi/simulator")
OVERLAY = os.path.join(BUILD_DIR, "overlay")


def _newest_source_mtime():
    newest = 0.0
    for top in (os.path.join(GO_PATH, "src"), os.path.dirname(VDDK_FRONT), SIMULATOR_EXT):
        for root, _dirs, files in os.walk(top):
            for name in files:
                newest = max(newest, os.path.getmtime(os.path.join(root, name)))
    return newest


def _build_overlay():
    """govmomi's simulator package from Debian, plus the lab's files and hooks (simulator-ext):
    a GOPATH entry placed before Debian's, so the lab compiles against the extended package."""
    govmomi = os.path.join(OVERLAY, "src/github.com/vmware/govmomi")
    target = os.path.join(govmomi, "simulator")
    shutil.rmtree(OVERLAY, ignore_errors=True)
    os.makedirs(govmomi)
    # Go takes a package from the first GOPATH entry that has its folder, so the rest of
    # govmomi is linked in beside the copied simulator package.
    stock_govmomi = os.path.dirname(STOCK_SIMULATOR)
    for name in os.listdir(stock_govmomi):
        if name != "simulator":
            os.symlink(os.path.join(stock_govmomi, name), os.path.join(govmomi, name))
    shutil.copytree(STOCK_SIMULATOR, target)
    for name in sorted(os.listdir(SIMULATOR_EXT)):
        if name.endswith(".go"):
            shutil.copy(os.path.join(SIMULATOR_EXT, name), target)
    result = subprocess.run(["patch", "-s", "-p1", "-d", target, "-i", os.path.join(SIMULATOR_EXT, "hooks.patch")],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        _fail("the lab's hooks do not apply to this govmomi (%s): %s" % (STOCK_SIMULATOR, result.stdout + result.stderr))


def _go_env():
    # The build cache stays in the clone: go vet's cgo step records the source folder it ran in, so a
    # cache shared between clones fails once the clone that filled it is gone.
    return dict(os.environ, GOPATH="%s:%s:%s" % (OVERLAY, GO_PATH, DEBIAN_GOPATH), GO111MODULE="off",
                GOCACHE=os.path.join(BUILD_DIR, "gocache"), GOFLAGS="", CGO_ENABLED="1")


def gotest(_args):
    """go vet over the lab's packages and go test of the disk model."""
    build()
    env = _go_env()
    for command in (["go", "vet", "vadplab/vdisk", "vadplab/nfsds", "vadplab/vcsim", "vadplab/vddkdouble"],
                    ["go", "test", "vadplab/vdisk"]):
        if subprocess.run(command, env=env, check=False).returncode != 0:
            _fail("%s failed" % " ".join(command[:2]))


def build(force=False):
    newest = _newest_source_mtime()
    if not force and all(os.path.exists(p) and os.path.getmtime(p) >= newest for p in (VCSIM_BIN, VDDK_LIBRARY)):
        return
    if not shutil.which("go") or not os.path.isdir(STOCK_SIMULATOR):
        _fail("building the lab needs Debian's golang-go, golang-github-vmware-govmomi-dev and libnfs-dev "
              "(apt-get install -y golang-go golang-github-vmware-govmomi-dev libnfs-dev)")
    os.makedirs(BUILD_DIR, exist_ok=True)
    _build_overlay()
    env = _go_env()
    sys.stderr.write("lab: building the simulator and the VDDK double (about a minute the first time)\n")
    if subprocess.run(["go", "build", "-o", VCSIM_BIN, "vadplab/vcsim"], env=env, check=False).returncode != 0:
        _fail("building the simulator failed (the compiler's words are above)")
    os.makedirs(os.path.dirname(VDDK_LIBRARY), exist_ok=True)
    # the Go part, loaded by the C front at InitEx (a client may fork between loading and InitEx)
    if subprocess.run(["go", "build", "-buildmode=c-shared", "-o", VDDK_GO_PART, "vadplab/vddkdouble"],
                      env=env, check=False).returncode != 0:
        _fail("building the VDDK double failed (the compiler's words are above)")
    os.remove(VDDK_GO_PART[:-len(".so")] + ".h")  # cgo's generated header: not part of the ABI
    if subprocess.run(["gcc", "-O2", "-Wall", "-shared", "-fPIC", "-o", VDDK_LIBRARY, VDDK_FRONT, "-ldl", "-lpthread"],
                      check=False).returncode != 0:
        _fail("building the VDDK double's front library failed (the compiler's words are above)")


def _read_state():
    try:
        with open(os.path.join(RUN_DIR, "state.json")) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    try:
        os.kill(state["pid"], 0)
    except OSError:
        return None
    return state


def _write_env(state, password, s3_state):
    values = object_storage.environment(s3_state) + [
        ("VMWARE_HOST", state["host"]),
        ("VMWARE_PORT", state["port"]),
        ("VMWARE_USER", LAB_USER),
        ("VMWARE_PASSWORD", password),
        ("VMWARE_VALIDATE_CERTS", "true"),
        ("VMWARE_CA_BUNDLE", state["ca_file"]),
        ("LAB_URL", state["url"]),
        ("LAB_CONTROL_URL", "https://%s:%s/lab" % (state["host"], state["port"])),
        ("LAB_THUMBPRINT_SHA1", state["thumbprint_sha1"]),
        ("LAB_THUMBPRINT_SHA256", state["thumbprint_sha256"]),
        ("VDDK_LIBDIR", VDDK_LIBDIR),
        ("VADP_BIOS_UUID", state["bios_uuid"]),  # the lab's machine is its proxy VM; no SMBIOS to read here
    ]
    path = os.path.join(RUN_DIR, "env")
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        for name, value in values:
            f.write("export %s=%s\n" % (name, shlex.quote(str(value))))
    os.rename(path + ".tmp", path)
    return path


def up(args):
    if _read_state():
        if os.path.exists(os.path.join(RUN_DIR, "env")):
            print(os.path.join(RUN_DIR, "env"))
            return
        down(args)  # a start that failed half way (the object storage): start again from nothing
    build()
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    os.makedirs(RUN_DIR, mode=0o700)
    password = secrets.token_urlsafe(18)
    env = dict(os.environ, LAB_USER=LAB_USER, LAB_PASSWORD=password)
    with open(os.path.join(RUN_DIR, "vcsim.log"), "ab") as log:
        proc = subprocess.Popen([VCSIM_BIN, "-run-dir", RUN_DIR], env=env, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        state = _read_state()
        if state:
            try:
                s3_state = object_storage.start(RUN_DIR, _fail)
            except SystemExit:
                down(args)  # never a simulator without the rest of the lab
                raise
            with open(os.path.join(RUN_DIR, "s3.json"), "w") as f:
                json.dump(s3_state, f)
            print(_write_env(state, password, s3_state))
            return
        if proc.poll() is not None:
            _fail("the simulator exited with %s; see %s" % (proc.returncode, os.path.join(RUN_DIR, "vcsim.log")))
        time.sleep(0.1)
    proc.kill()
    _fail("the simulator did not start within %d s" % START_TIMEOUT)


def down(_args):
    try:
        with open(os.path.join(RUN_DIR, "s3.json")) as f:
            object_storage.stop(json.load(f))
    except (OSError, ValueError):
        pass  # it never started
    state = _read_state()
    if state:
        os.kill(state["pid"], signal.SIGTERM)
        for _attempt in range(100):
            try:
                os.kill(state["pid"], 0)
            except OSError:
                break
            time.sleep(0.05)
        else:
            os.kill(state["pid"], signal.SIGKILL)
    shutil.rmtree(RUN_DIR, ignore_errors=True)


def _control(path, body=None):
    """Call the running lab's control endpoint; exits with its error text on failure."""
    import ssl
    import urllib.error
    import urllib.request
    state = _read_state()
    if not state:
        _fail("not running (lab up)")
    context = ssl.create_default_context(cafile=state["ca_file"])
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request("https://%s:%s/lab%s" % (state["host"], state["port"], path), data=data,
                                     method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, context=context) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            text = json.loads(text)["error"]
        except (ValueError, KeyError):
            pass
        _fail(text.strip())


def guest_write(args):
    print(json.dumps(_control("/guest-write", {"vm": args.vm, "offset": args.offset, "length": args.length or 0,
                                               "seed": args.seed, "source": args.source or "",
                                               "device_key": args.device_key}), indent=2))


def _capacity(vm, device_key):
    from urllib.parse import quote
    disks = _control("/inspect?vm=" + quote(vm))["disks"]
    chosen = [d for d in disks if device_key in (0, d.get("key"))]
    if not chosen:
        _fail("%s has no disk %s" % (vm, device_key))
    return chosen[0]["capacity"]


def attack(args):
    """What ransomware does to a disk: random (incompressible) data over most of it."""
    length = _capacity(args.vm, args.device_key) * args.percent // 100 // 512 * 512
    print(json.dumps(_control("/guest-write", {"vm": args.vm, "offset": 0, "length": length, "seed": args.seed,
                                               "device_key": args.device_key}), indent=2))


def activity(args):
    """Normal guest activity, for contrast: a few MiB of log lines (compressible) somewhere on the disk."""
    import random
    capacity, length = _capacity(args.vm, args.device_key), args.mib << 20
    offset = random.Random(args.seed).randrange(0, max(1, (capacity - length) // 512)) * 512
    print(json.dumps(_control("/guest-write", {"vm": args.vm, "offset": offset, "length": length, "seed": args.seed,
                                               "device_key": args.device_key, "pattern": "text"}), indent=2))


def inspect(args):
    from urllib.parse import quote
    print(json.dumps(_control("/inspect?vm=" + quote(args.vm)), indent=2))


def status(_args):
    state = _read_state()
    if not state:
        _fail("not running")
    print(json.dumps(state, indent=2))


def run(args):
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        _fail("run needs a command: lab run -- CMD [ARGS...]")
    started_here = _read_state() is None
    up(args)
    env = dict(os.environ)
    with open(os.path.join(RUN_DIR, "env")) as f:
        for line in f:
            name, _sep, value = line[len("export "):].rstrip("\n").partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    try:
        returncode = subprocess.call(command, env=env)
    finally:
        if started_here:
            down(args)
    sys.exit(returncode)


def main():
    parser = argparse.ArgumentParser(prog="lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="build if needed, start, write the env file").set_defaults(func=up)
    commands.add_parser("down", help="stop and clean up").set_defaults(func=down)
    commands.add_parser("status", help="print the running lab's state").set_defaults(func=status)
    runner = commands.add_parser("run", help="run a command against the lab: lab run -- CMD...")
    runner.add_argument("cmd", nargs=argparse.REMAINDER)
    runner.set_defaults(func=run)
    writer = commands.add_parser("guest-write", help="write into a VM's disk as its guest would")
    writer.add_argument("vm", help="VM name or moid")
    writer.add_argument("--offset", type=int, required=True, help="byte offset (whole 512-byte sectors)")
    data = writer.add_mutually_exclusive_group(required=True)
    data.add_argument("--length", type=int, help="bytes of pseudo-random data (whole 512-byte sectors)")
    data.add_argument("--source", help="a local file whose bytes to write (whole 512-byte sectors)")
    writer.add_argument("--seed", type=int, default=1, help="seed of the pseudo-random data")
    writer.add_argument("--device-key", type=int, default=0, help="the disk (default: the first)")
    writer.set_defaults(func=guest_write)
    attacker = commands.add_parser("attack", help="overwrite most of a VM's disk with random data, as ransomware does")
    attacker.add_argument("vm", help="VM name or moid")
    attacker.add_argument("--percent", type=int, default=90, help="how much of the disk, from its start")
    attacker.add_argument("--seed", type=int, default=1)
    attacker.add_argument("--device-key", type=int, default=0, help="the disk (default: the first)")
    attacker.set_defaults(func=attack)
    active = commands.add_parser("activity", help="normal guest activity: a few MiB of log lines (compressible)")
    active.add_argument("vm", help="VM name or moid")
    active.add_argument("--mib", type=int, default=2)
    active.add_argument("--seed", type=int, default=1)
    active.add_argument("--device-key", type=int, default=0, help="the disk (default: the first)")
    active.set_defaults(func=activity)
    inspector = commands.add_parser("inspect", help="describe a VM's disks, with content checksums")
    inspector.add_argument("vm", help="VM name or moid")
    inspector.set_defaults(func=inspect)
    commands.add_parser("gotest", help="go vet the lab and go test its disk model").set_defaults(func=gotest)
    commands.add_parser("build", help="build the simulator").set_defaults(func=lambda _a: build(force=True))
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
