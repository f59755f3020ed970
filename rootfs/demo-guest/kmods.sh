# Shell helpers (sourced) to find Debian's kernel and copy modules, with their
# dependencies, in load order, into an initramfs tree for busybox's insmod
# (which resolves nothing itself).
#
#   kmods_kver                  -> prints the kernel version to use
#   kmods_kernel VER            -> prints the vmlinuz path for VER
#   kmods_install VER DEST MOD... -> copies DEST/lib/modules/NAME.ko (decompressed)
#                                  and appends their names, in load order, to
#                                  DEST/lib/modules/load-order
# KVER in the environment overrides the kernel version.

kmods_kver() {
	if [ -n "${KVER:-}" ]; then echo "$KVER"; return 0; fi
	_best=""
	for _k in /boot/vmlinuz-*-amd64; do
		[ -e "$_k" ] || continue
		_v=${_k#/boot/vmlinuz-}
		[ -d "/lib/modules/$_v/kernel" ] || continue
		_best="$_best$_v
"
	done
	_best=$(printf '%s' "$_best" | sort -V | tail -n1)
	if [ -z "$_best" ]; then
		echo "kmods: no /boot/vmlinuz-*-amd64 with matching /lib/modules/<ver>; install linux-image-amd64" >&2
		return 1
	fi
	echo "$_best"
}

kmods_kernel() { echo "/boot/vmlinuz-$1"; }

# Recursive depth-first resolution: dependencies (and "pre:" softdeps) first.
_kmods_visit() {
	local kv m fn base deps soft d p
	kv=$1; m=$2
	fn=$(modinfo -k "$kv" -F filename "$m" 2>/dev/null | head -n1)
	if [ -z "$fn" ]; then
		echo "kmods: module '$m' not found for kernel $kv" >&2
		return 1
	fi
	case "$fn" in "(builtin)") return 0;; esac
	base=$(basename "$fn"); base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
	case " $_KMODS_SEEN " in *" $base "*) return 0;; esac
	_KMODS_SEEN="$_KMODS_SEEN $base"
	deps=$(modinfo -k "$kv" -F depends "$m" 2>/dev/null | tr ',' ' ')
	soft=$(modinfo -k "$kv" -F softdep "$m" 2>/dev/null | sed -n 's/^.*pre:[[:space:]]*//p' | sed 's/post:.*//')
	for d in $soft; do
		# Soft dependencies are often aliases (crypto-crc32c): take every
		# provider; those this CPU cannot run fail to load harmlessly.
		for p in $(modinfo -k "$kv" -F name "$d" 2>/dev/null); do
			_kmods_visit "$kv" "$p" || true
		done
	done
	for d in $deps; do _kmods_visit "$kv" "$d" || return 1; done
	_KMODS_ORDER="$_KMODS_ORDER $fn"
}

kmods_install() {
	local _kv _dest _m _f _b
	_kv=$1; _dest=$2; shift 2
	_KMODS_SEEN=""; _KMODS_ORDER=""
	for _m in "$@"; do _kmods_visit "$_kv" "$_m" || return 1; done
	mkdir -p "$_dest/lib/modules"
	for _f in $_KMODS_ORDER; do
		_b=$(basename "$_f")
		case "$_f" in
		*.ko.xz)  _b=${_b%.xz};  xz -dc "$_f" >"$_dest/lib/modules/$_b" || return 1;;
		*.ko.zst) _b=${_b%.zst}; zstd -q -dc "$_f" >"$_dest/lib/modules/$_b" || return 1;;
		*.ko.gz)  _b=${_b%.gz};  gzip -dc "$_f" >"$_dest/lib/modules/$_b" || return 1;;
		*)        cp "$_f" "$_dest/lib/modules/$_b" || return 1;;
		esac
		grep -qx "$_b" "$_dest/lib/modules/load-order" 2>/dev/null || echo "$_b" >>"$_dest/lib/modules/load-order"
	done
}

# Fill DEST with busybox-static and its applet links.
kmods_busybox() {
	_dest=$1
	_bb=""
	for _c in /bin/busybox /usr/bin/busybox; do [ -x "$_c" ] && _bb=$_c && break; done
	if [ -z "$_bb" ] || ! file_is_static "$_bb"; then
		echo "kmods: need a static busybox (apt-get install busybox-static)" >&2
		return 1
	fi
	mkdir -p "$_dest/bin" "$_dest/sbin" "$_dest/usr/bin" "$_dest/usr/sbin"
	cp "$_bb" "$_dest/bin/busybox"
	for _a in $("$_bb" --list); do
		[ "$_a" = busybox ] && continue
		[ -e "$_dest/bin/$_a" ] || ln -s busybox "$_dest/bin/$_a"
	done
}

file_is_static() {
	# ldd prints "not a dynamic executable" (and fails) for static binaries.
	! ldd "$1" >/dev/null 2>&1
}

# Pack DIR into a gzip'd newc cpio owned by root.
kmods_pack() {
	( cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 ) | gzip -6 >"$2.tmp" && mv "$2.tmp" "$2"
}
