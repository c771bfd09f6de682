#!/usr/bin/env bash
# Prepare this machine (Debian 12, as root) to run followup-ops and its lab:
#   - Debian packages: docker.io, debootstrap, python3-venv, openssh-client, git, rsync, make; age and zstd (the
#     lab's backup key, the backup tests); for the reports:
#     fonts-noto-cjk and libpango (PDF with Chinese text), poppler-utils and tesseract-ocr with its Chinese data
#     (the tests render each PDF to images and read its text back)
#   - a Docker engine that answers (dockerd is started when none does; systemd is used when it runs)
#   - Go >= 1.24 for the lab's FerretDB and mongo-tools builds, when missing: Debian's golang-go, which then
#     fetches a newer toolchain as a module from the Go module proxy (Go's own toolchain mechanism)
# Idempotent: what is already there is left alone. Prints one line per step.
set -euo pipefail

GO_TOOLCHAIN=${GO_TOOLCHAIN:-go1.24.3}
GO_MIN_MINOR=24
here=$(cd "$(dirname "$0")" && pwd)
state_dir="$here/../.lab"

say() { printf 'bootstrap: %s\n' "$*"; }
fail() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    fail "run as root (it installs Debian packages and starts dockerd): sudo make bootstrap"
fi
if ! grep -q '^VERSION_ID="12"' /etc/os-release 2>/dev/null; then
    say "warning: this is not Debian 12; continuing, but only Debian 12 is tested"
fi

# --- Debian packages ---
need=()
for pkg in docker.io debootstrap python3-venv openssh-client git rsync make ca-certificates curl \
    age zstd fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils tesseract-ocr tesseract-ocr-chi-sim; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || fail "apt-get update failed: check this machine's apt sources reach a Debian mirror"
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
        || fail "apt-get install ${need[*]} failed: check the Debian mirror in this machine's apt sources"
else
    say "Debian packages present"
fi

# --- Docker engine ---
if docker info >/dev/null 2>&1; then
    say "Docker engine answers"
else
    if [ -d /run/systemd/system ]; then
        say "starting docker with systemd"
        systemctl start docker || fail "systemctl start docker failed: see journalctl -u docker"
    else
        mkdir -p "$state_dir"
        say "starting dockerd (no systemd here; log in .lab/dockerd.log)"
        nohup dockerd >"$state_dir/dockerd.log" 2>&1 &
    fi
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || fail "dockerd did not answer within 60s: see .lab/dockerd.log or journalctl -u docker"
    say "Docker engine answers"
fi

# --- Go ---
go_ok() {
    local v
    v=$("$1" env GOVERSION 2>/dev/null) || return 1
    v=${v#go}
    [ "${v%%.*}" -gt 1 ] || [ "$(echo "$v" | cut -d. -f2)" -ge "$GO_MIN_MINOR" ]
}
go_bin=$(command -v go || true)
[ -z "$go_bin" ] && [ -x /usr/local/go/bin/go ] && go_bin=/usr/local/go/bin/go
if [ -n "$go_bin" ] && go_ok "$go_bin"; then
    say "Go present ($("$go_bin" env GOVERSION))"
else
    if [ -z "$go_bin" ]; then
        say "installing Debian's golang-go"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null || fail "apt-get update failed: check this machine's apt sources reach a Debian mirror"
        apt-get install -y -q --no-install-recommends golang-go >/dev/null \
            || fail "apt-get install golang-go failed: check the Debian mirror"
        go_bin=$(command -v go)
    fi
    say "fetching the Go toolchain $GO_TOOLCHAIN from the Go module proxy"
    log="$state_dir/go-toolchain.log"
    mkdir -p "$state_dir"
    dir=$("$go_bin" mod download -json "golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-amd64" 2>"$log" |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("Dir", ""))') || true
    [ -n "$dir" ] && [ -f "$dir/bin/go" ] \
        || fail "could not fetch the Go toolchain $GO_TOOLCHAIN ($(tail -n 1 "$log")): check GOPROXY reaches the Go module proxy"
    # Module files are unpacked read-only (0444); the toolchain's programs must be made executable.
    chmod +x "$dir/bin/"* "$dir/pkg/tool"/*/*
    ln -sf "$dir/bin/go" /usr/local/bin/go
    say "Go ready ($(/usr/local/bin/go env GOVERSION))"
fi
say "done"
