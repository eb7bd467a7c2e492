#!/usr/bin/env bash
# Offline validation of everything under deploy/ plus the Dockerfile and docker-compose.yml.
# No Docker engine, cluster or network service is needed; the validators are installed
# from PyPI on first use (pinned in deploy/*-requirements.txt) into .tools/ at the
# repository root, or into $MENTORSHIP_TOOLS_DIR, and reused after that.
#
#   deploy/validate.sh            # every check; exit status 1 if any failed
#
# Checks, in order:
#   dockerfile      hadolint and checkov --framework dockerfile on the Dockerfile
#   compose-schema  check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
#   compose-config  the compose binary's `config -q` (references, conditions, interpolation)
#   nats-conf       nats-server -t on deploy/compose/nats.conf
#   k8s-<overlay>   kubectl kustomize, then the built-in objects through
#                   kubernetes-validate --strict (Kubernetes 1.30 and 1.37) and the custom
#                   resources against deploy/k8s/schemas (deploy/validate_k8s.py)
#   checkov         checkov --framework kustomize --skip-download (deploy/checkov.yaml)
#   shell           shellcheck on this script
#
# The project rules (probes, security contexts, budgets, flows) are pytest tests in
# tests/deploy, run with the rest of the suite.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
TOOLS=${MENTORSHIP_TOOLS_DIR:-$REPO/.tools}
PYTHON=${PYTHON:-python3}
# The oldest Kubernetes minor release the manifests support, and the newest known.
K8S_VERSIONS=(1.30.0 1.37.0)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# A virtual environment per requirements file, rebuilt only when that file changes.
ensure_tools() {
    local name=$1 requirements=$2
    local dir="$TOOLS/$name"
    local stamp
    stamp="$dir/.installed-$(sha256sum "$requirements" | cut -c1-16)"
    if [[ ! -e $stamp ]]; then
        echo "installing $name validators into $dir"
        rm -rf "$dir"
        "$PYTHON" -m venv "$dir"
        if ! "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" \
            >"$WORK/pip-$name.log" 2>&1; then
            cat "$WORK/pip-$name.log"
            echo "could not install the $name validators" >&2
            exit 2
        fi
        touch "$stamp"
    fi
}

ensure_tools validate deploy/tools-requirements.txt
ensure_tools checkov deploy/checkov-requirements.txt
V="$TOOLS/validate/bin"
# checkov renders kustomizations with the kubectl it finds first on PATH: use the pinned one.
export PATH="$V:$PATH"
COMPOSE_BIN=$("$V/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')

passed=0
failed=()
run_check() {
    local name=$1
    shift
    echo "== $name"
    if "$@"; then
        passed=$((passed + 1))
        echo "-- $name: ok"
    else
        failed+=("$name")
        echo "-- $name: FAILED"
    fi
}

check_k8s_overlay() {
    local overlay=$1
    local rendered="$WORK/$overlay.yaml" builtin="$WORK/$overlay-builtin.yaml"
    "$V/kubectl" kustomize "deploy/k8s/overlays/$overlay" >"$rendered" || return 1
    "$V/python" deploy/validate_k8s.py "$rendered" --builtin-out "$builtin" || return 1
    local version output status
    for version in "${K8S_VERSIONS[@]}"; do
        status=0
        output=$("$V/kubernetes-validate" --strict --quiet -k "$version" "$builtin" 2>&1) || status=$?
        [[ -n $output ]] && echo "$output"
        # A WARN means no schema for an object (an unknown or removed API): not validated.
        if ((status != 0)) || grep -q '^WARN' <<<"$output"; then
            echo "kubernetes-validate --strict -k $version: errors or unvalidated objects in $overlay"
            return 1
        fi
        echo "kubernetes-validate --strict -k $version: $(grep -c '^kind:' "$builtin") objects valid"
    done
}

check_checkov() {
    local output status=0
    output=$("$TOOLS/checkov/bin/checkov" --config-file deploy/checkov.yaml 2>&1) || status=$?
    echo "$output"
    # checkov skips kustomize silently when it finds no renderer: insist that it scanned.
    if ! grep -Eq 'Passed checks: [1-9]' <<<"$output"; then
        echo "checkov reported no passed checks: nothing was scanned"
        return 1
    fi
    return "$status"
}

check_dockerfile() {
    "$V/hadolint" Dockerfile &&
        "$TOOLS/checkov/bin/checkov" --framework dockerfile -f Dockerfile --skip-download \
            --compact --quiet
}

run_check dockerfile check_dockerfile
run_check compose-schema "$V/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
run_check compose-config "$COMPOSE_BIN" --project-directory "$REPO" -f docker-compose.yml config -q
run_check nats-conf "$V/nats-server" -t -c deploy/compose/nats.conf
for overlay_dir in deploy/k8s/overlays/*/; do
    overlay=$(basename "$overlay_dir")
    run_check "k8s-$overlay" check_k8s_overlay "$overlay"
done
run_check checkov check_checkov
run_check shell "$V/shellcheck" deploy/validate.sh

total=$((passed + ${#failed[@]}))
if ((${#failed[@]} > 0)); then
    echo "deploy/validate.sh: ${#failed[@]} of $total checks failed: ${failed[*]}"
    exit 1
fi
echo "deploy/validate.sh: all $total checks passed"
