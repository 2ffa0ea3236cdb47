#!/usr/bin/env bash
# Installs what `make demo` and `make test` need on a fresh Debian/Ubuntu machine (run as root, or
# with the Debian packages already present): Go and govmomi's source for the lab, a virtual
# environment with the collection's runtime and test requirements, and a collections path that
# points at this checkout. Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(golang-go golang-github-vmware-govmomi-dev patch python3-venv git nbdkit nbdkit-plugin-python libnbd-bin qemu-utils
          libguestfs-tools python3-guestfs chromium nbdfuse fuse3 nfs-ganesha nfs-ganesha-vfs libnfs13 libnfs-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# python3-venv is only needed where the Python in use lacks venv/ensurepip.
if [[ " ${missing[*]} " == *" python3-venv "* ]] && python3 -c "import venv, ensurepip" 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bootstrap: missing Debian packages: ${missing[*]}; install them as root" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

stamp=.venv/.requirements.sha256
wanted=$(cat requirements.txt tests/requirements.txt | sha256sum | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$wanted" ]]; then
  echo "bootstrap: creating the virtual environment .venv"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt -r tests/requirements.txt
  echo "$wanted" > "$stamp"
fi

# ansible finds the collection as vadp.vsphere through this link to the checkout.
mkdir -p .build/collections/ansible_collections/vadp
ln -sfn "$PWD" .build/collections/ansible_collections/vadp/vsphere
