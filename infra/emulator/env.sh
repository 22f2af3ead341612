# Source this file: installs moto's server into a virtual environment if needed, starts it on
# 127.0.0.1 on a free port, and exports the AWS_* variables that point the AWS SDK at it.
# `emulator_stop` stops it. Nothing here reaches the internet once the venv is installed.

_emu_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EMULATOR_VENV="${TRAILHOUND_EMULATOR_VENV:-$HOME/.cache/trailhound/venv-emulator}"

emulator_install() {
    local want stamp="$EMULATOR_VENV/.requirements.sha256"
    want=$(sha256sum "$_emu_dir/requirements.txt" | cut -d' ' -f1)
    if [ -x "$EMULATOR_VENV/bin/moto_server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    echo "installing the local AWS emulator into $EMULATOR_VENV" >&2
    rm -rf "$EMULATOR_VENV"
    python3 -m venv "$EMULATOR_VENV" || return 1
    "$EMULATOR_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$_emu_dir/requirements.txt" || return 1
    echo "$want" > "$stamp"
}

emulator_start() {
    emulator_install || return 1
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    EMULATOR_LOG="${TMPDIR:-/tmp}/trailhound-emulator-$port.log"
    "$EMULATOR_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$EMULATOR_LOG" 2>&1 &
    EMULATOR_PID=$!
    local i
    for i in $(seq 1 100); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then
            break
        fi
        if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
            echo "the emulator exited; its log ($EMULATOR_LOG):" >&2
            cat "$EMULATOR_LOG" >&2
            return 1
        fi
        sleep 0.1
    done
    if ! curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/"; then
        echo "the emulator did not answer on 127.0.0.1:$port; its log ($EMULATOR_LOG):" >&2
        cat "$EMULATOR_LOG" >&2
        return 1
    fi
    # Only the emulator: never a real account's profile or credentials.
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE
    export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    echo "local AWS emulator on $AWS_ENDPOINT_URL (pid $EMULATOR_PID)" >&2
}

emulator_stop() {
    if [ -n "${EMULATOR_PID:-}" ]; then
        kill "$EMULATOR_PID" 2>/dev/null || true
        wait "$EMULATOR_PID" 2>/dev/null || true
        unset EMULATOR_PID
    fi
}

emulator_start
