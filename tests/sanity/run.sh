#!/usr/bin/env bash
# ansible-test sanity over the collection, offline-safe. ansible-test needs the collection under
# ansible_collections/<namespace>/<name>/, so a copy of the tracked files is tested there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}

# Put the pip bootstrap stand-in where ansible-test looks before downloading.
pip_version=$("$python" - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
cache=~/.ansible/test/cache
mkdir -p "$cache"
cp "$root/tests/sanity/get_pip_standin.py" "$cache/get_pip_${pip_version//./_}.py"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/vadp/vsphere
mkdir -p "$dest"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest")
cd "$dest"
git init -q && git add -A >/dev/null  # ansible-test lists the files to check through git
"$(dirname "$python")/ansible-test" sanity --venv --python "$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  --color no "$@"
