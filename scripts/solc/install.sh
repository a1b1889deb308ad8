#!/bin/sh
# Installs the solc-js wrapper as the native compiler py-solc-x looks for
# (~/.solcx/solc-v0.8.28, or $SOLCX_BINARY_PATH), so that Ape, py-solc-x and
# Slither compile offline. Run from the repository root after `npm ci`.
set -eu
version="0.8.28"
repo_root="$(cd "$(dirname "$0")/../.." && pwd)"
target_dir="${SOLCX_BINARY_PATH:-$HOME/.solcx}"
mkdir -p "$target_dir"
target="$target_dir/solc-v$version"
cat > "$target" <<SHIM
#!/bin/sh
exec node "$repo_root/scripts/solc/solc-native.cjs" "\$@"
SHIM
chmod +x "$target"
"$target" --version | grep -q "Version: $version" || { echo "solc wrapper did not report $version" >&2; exit 1; }
echo "solc $version (solc-js) installed at $target"
