"""Stand-in for the get-pip bootstrap script that ansible-test downloads from a host this network
cannot reach: it installs pip with ensurepip, then the packages ansible-test asked for from PyPI.
ansible-test runs it inside each new virtual environment with pip's install arguments."""
import os
import subprocess
import sys

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
                      stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
if os.path.exists(CA_BUNDLE):  # pip in these environments does not read the CA from its config
    args += ["--cert", CA_BUNDLE]
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args)
