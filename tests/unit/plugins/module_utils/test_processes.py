"""The export daemons' pids: a daemon whose parent exits before it writes its pid file is waited
for (nbdkit does this), and end() stops a program only if the pid still runs it."""
import os
import subprocess
import sys
import threading

from ansible_collections.vadp.vsphere.plugins.module_utils._export.processes import alive, end, wait_for_pid_file


def test_a_pid_file_written_after_the_parent_exited_is_waited_for(tmp_path):
    pid_file, release = tmp_path / "daemon.pid", tmp_path / "release"
    os.mkfifo(release)
    # the parent exits at once; its child writes the file only once the test releases it (nbdkit's child
    # writes it at a time of its own): no sleep, the release is the event
    subprocess.run(["sh", "-c", "(cat %s > /dev/null; echo 4242 > %s) &" % (release, pid_file)], check=True)
    waited = {}
    waiter = threading.Thread(target=lambda: waited.update(pid=wait_for_pid_file(str(pid_file))))
    waiter.start()
    assert not pid_file.exists()
    with open(release, "w") as fifo:  # opens once the child reads; closing lets it go on
        fifo.write("go")
    waiter.join()
    assert waited["pid"] == 4242


def test_a_missing_pid_file_gives_none_after_the_timeout(tmp_path):
    assert wait_for_pid_file(str(tmp_path / "never.pid"), timeout=0.2) is None


def test_end_stops_the_program_and_leaves_a_pid_of_another_program_alone():
    # the child runs until its stdin closes: it waits on an event of the test's, not on a clock
    program = b"import sys; print('ready', flush=True); sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", program.decode()], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"ready\n"  # it runs its program now, not still the forked parent's
        assert alive(child.pid, program) and not alive(child.pid, b"nbdkit")
        end(child.pid, b"nbdkit")  # not ours: untouched
        assert child.poll() is None
        end(child.pid, program)
        assert child.wait(timeout=60) is not None
    finally:
        if child.poll() is None:
            child.kill()
        child.stdin.close()
        child.stdout.close()
    assert not os.path.exists("/proc/%d" % child.pid)
