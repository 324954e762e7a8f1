#!/bin/bash
# rootfs.sh DIR stages the build context of the umbrella-nginx image in DIR: Debian's
# nginx as installed on this host (apt-get install nginx), the shared libraries it
# loads and the dynamic loader, at their own paths, each package's copyright file, the
# list of those packages with their versions, and docker/nginx/nginx.conf. Files that
# differ from their Debian package (dpkg --verify) are refused, so the image holds
# exactly what the listed package versions ship.
set -euo pipefail
out=${1:?usage: rootfs.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
nginx=/usr/sbin/nginx
[[ -x $nginx ]] || { echo "rootfs.sh: $nginx is missing: apt-get install nginx" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/rootfs"
root=$out/rootfs
# nginx, every library ldd resolves for it, and the loader (the lines without "=>").
files=("$nginx" /etc/nginx/mime.types)
while read -r lib; do files+=("$lib"); done < <(ldd "$nginx" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')

declare -A packages=()
for f in "${files[@]}"; do
    # dpkg knows a file by the path its package ships, before or after merged /usr.
    pkg=$(dpkg -S "$f" 2>/dev/null || dpkg -S "$(realpath "$f")" 2>/dev/null || true)
    pkg=${pkg%%:*}
    [[ -n $pkg ]] || { echo "rootfs.sh: no Debian package ships $f" >&2; exit 1; }
    packages[$pkg]=1
    mkdir -p "$root$(dirname "$f")"
    cp -L --preserve=mode "$f" "$root$f"
done

mkdir -p "$root/usr/share/doc/umbrella-nginx"
for pkg in $(printf '%s\n' "${!packages[@]}" | sort); do
    if modified=$(dpkg --verify "$pkg" | grep -v ' c /' || true) && [[ -n $modified ]]; then
        echo "rootfs.sh: files of $pkg differ from the package:" >&2
        echo "$modified" >&2
        exit 1
    fi
    dpkg-query -W -f '${Package}=${Version}\n' "$pkg" >> "$root/usr/share/doc/umbrella-nginx/packages"
    doc=/usr/share/doc/$pkg/copyright
    if [[ -f $doc ]]; then
        mkdir -p "$root/usr/share/doc/$pkg"
        cp "$doc" "$root/usr/share/doc/$pkg/copyright"
    fi
done

install -m 0644 "$here/nginx.conf" "$root/etc/nginx/nginx.conf"
mkdir -p "$root/etc/nginx/sites" "$root/etc/nginx/tls" "$root/srv/www" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$here/Dockerfile" "$out/Dockerfile"
echo "rootfs.sh: staged nginx from $(tr '\n' ' ' < "$root/usr/share/doc/umbrella-nginx/packages")in $out"
