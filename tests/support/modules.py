"""Running the collection's modules from a test or a benchmark, two ways with the same arguments:

- run_module: the module through Ansible's module contract (its arguments handed over as
  ANSIBLE_MODULE_ARGS, one JSON result read back from what it prints), in this process. The
  module's own code, argument checks, no_log masking and exit are all Ansible's; only
  ansible-playbook's start (3-7 s a call) is left out. Called from another thread than the main
  one (a test running modules side by side), the module runs in a Python process of its own, as
  AnsiballZ would run it: a module's arguments, output and environment belong to its process.
- run_task: the module as one task of a real ansible-playbook run, for what only a play shows (its
  output at a verbosity, the connection options coming from the environment through Ansible).

The collection is imported from .build/collections (the link tests/bootstrap.sh makes).
"""
import collections
import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import traceback

# (check mode, result) of every run_module call, by module name: what the RETURN documentation is
# checked against (tests/integration/test_documented_returns.py).
RESULTS = collections.defaultdict(list)
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


@contextlib.contextmanager
def _environment(env, connection_from_env):
    """os.environ changed for one module run (the workers it starts inherit it), then restored."""
    saved = dict(os.environ)
    if not connection_from_env:
        for name in [n for n in os.environ if n.startswith("VMWARE_")]:
            del os.environ[name]
    os.environ.update(env or {})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _module_arguments(args):
    """What AnsiballZ hands a module: its arguments and the JSON profile, read once by AnsibleModule."""
    from ansible.module_utils import basic
    from ansible.module_utils.common import warnings
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    basic._ANSIBLE_PROFILE = "legacy"
    warnings._global_warnings.clear()  # a module's warnings are its own run's, as in a process of its own
    warnings._global_deprecations.clear()
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = None


def run_module(module, args, check_mode=False, env=None, connection_from_env=True, wrapper=None):
    """The result of one run of module ("vadp.vsphere.NAME" or "NAME") in this process; env: more
    environment variables for this run (and the workers it starts); connection_from_env=False: the
    VMWARE_* variables are not there for it; wrapper: a command the module runs under, in a process
    of its own (setpriv, to take a capability away)."""
    name = module.rsplit(".", 1)[-1]
    result = _as_registered(_run(name, args, check_mode, env, connection_from_env, wrapper))
    RESULTS[name].append((check_mode, result))
    return result


def _as_registered(result):
    """The result as a task's register shows it: the controller turns a module's warning records
    into their messages, and sets changed when the module did not."""
    result = dict(result)
    if "warnings" in result:
        result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) and "event" in w else w for w in result["warnings"]]
    result.setdefault("changed", False)
    return result


def _run(name, args, check_mode, env, connection_from_env, wrapper):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_module_name=name)
    if wrapper or threading.current_thread() is not threading.main_thread():
        return _run_in_a_process(name, args, env, connection_from_env, wrapper or [])
    code = importlib.import_module("ansible_collections.vadp.vsphere.plugins.modules." + name)
    printed = io.StringIO()
    with _environment(env, connection_from_env), _module_arguments(args), contextlib.redirect_stdout(printed):
        try:
            code.main()
            return {"failed": True, "msg": "%s returned without exit_json or fail_json" % name}
        except SystemExit:
            pass
        except Exception:  # noqa: BLE001 - what Ansible reports as MODULE FAILURE
            return {"failed": True, "msg": "MODULE FAILURE", "exception": traceback.format_exc()}
    try:
        return json.loads(printed.getvalue())
    except ValueError:
        raise AssertionError("%s printed no JSON result: %r" % (name, printed.getvalue()[-2000:]))


def _run_in_a_process(name, args, env, connection_from_env, wrapper):
    with tempfile.NamedTemporaryFile("w", suffix=".json") as arguments:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, arguments)
        arguments.flush()
        run_env = {k: v for k, v in os.environ.items() if connection_from_env or not k.startswith("VMWARE_")}
        run_env.update(env or {}, PYTHONPATH=COLLECTIONS)
        command = wrapper + [sys.executable, "-m", "ansible_collections.vadp.vsphere.plugins.modules." + name, arguments.name]
        process = subprocess.run(command, capture_output=True, text=True, env=run_env, check=False)
    try:
        return json.loads(process.stdout)
    except ValueError:
        raise AssertionError("%s printed no JSON result: %s %s" % (name, process.stdout[-2000:], process.stderr[-2000:]))


def run_task(module, args, check_mode=False, env=None, connection_from_env=True, verbosity=0):
    """(result, the play's output) of module run as one task of an ansible-playbook run."""
    with tempfile.TemporaryDirectory() as tmp:
        result_file = os.path.join(tmp, "result.json")
        task = {"name": "module under test", module: args, "register": "result", "ignore_errors": True,
                "check_mode": check_mode}
        play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
            task,
            {"name": "save the result", "ansible.builtin.copy": {
                "content": "{{ result | to_json }}", "dest": result_file}, "check_mode": False},
        ]}]
        playbook = os.path.join(tmp, "play.yml")
        with open(playbook, "w") as f:
            json.dump(play, f)
        run_env = {k: v for k, v in os.environ.items() if connection_from_env or not k.startswith("VMWARE_")}
        run_env.update(env or {})
        command = ["ansible-playbook", playbook] + (["-" + "v" * verbosity] if verbosity else [])
        process = subprocess.run(command, capture_output=True, text=True, env=run_env, cwd=ROOT, check=False)
        assert process.returncode == 0, process.stdout + process.stderr
        with open(result_file) as f:
            return json.load(f), process.stdout + process.stderr
