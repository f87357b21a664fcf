#!/usr/bin/env bash
# Prepares the Python of the end-to-end tests (a virtualenv in
# target/e2e-python with zeep, which generates a SOAP client from fila's
# WSDL, and schemathesis, which fuzzes the API from its OpenAPI
# description) and of deploy/local/test-manifests.sh (kubernetes-validate
# and check-jsonschema, which check the deployment files offline), and
# prints its interpreter's path. Installs python3 and its venv module with
# apt when absent.
set -euo pipefail
cd "$(dirname "$0")/../.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

env_dir=target/e2e-python
requirements=tests/fixtures/python-requirements.txt
# deploy/local/test-manifests.sh's, with what they need beyond the list above.
manifests=(kubernetes-validate==1.37.0 check-jsonschema==0.39.0 jsonschema==4.26.0
  jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
  importlib_resources==7.1.0 regress==2026.9.1 ruamel.yaml==0.19.1)
wanted() { cat "$requirements"; printf '%s\n' "${manifests[@]}"; }
stamp="$env_dir/.requirements"
if [ ! -x "$env_dir/bin/python" ] || ! wanted | cmp -s - "$stamp"; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    echo "test-python: installing python3 and python3-venv" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
  fi
  rm -rf "$env_dir"
  python3 -m venv "$env_dir" >&2
  "$env_dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" \
    "${manifests[@]}" >&2
  wanted >"$stamp"
fi
echo "$PWD/$env_dir/bin/python"
