# Sourced by the README's commands: one virtual environment (.venv, or $ARGUS_VENV) that each
# command creates on first use and activates, and the Debian packages a command needs.

ensure_debian_packages() {
    local missing=()
    local cmd
    for cmd in "$@"; do
        # "command:package" where the package is named otherwise (node:nodejs).
        command -v "${cmd%%:*}" >/dev/null 2>&1 || missing+=("${cmd##*:}")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_venv() {
    local venv="${ARGUS_VENV:-.venv}"
    if [ ! -x "$venv/bin/python" ]; then
        echo "creating virtual environment $venv"
        if ! python3 -m venv "$venv" 2>/dev/null; then
            # Stock Debian ships venv separately (python3-venv); ensurepip is part of it.
            rm -rf "$venv"
            local sudo=""
            [ "$(id -u)" -eq 0 ] || sudo="sudo"
            $sudo apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$venv"
        fi
    fi
    # shellcheck disable=SC1091
    . "$venv/bin/activate"
    python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=23.1" >/dev/null
    python -m pip install --quiet --disable-pip-version-check -e "$1"
}
