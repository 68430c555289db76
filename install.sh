#!/bin/sh
# install.sh: installs the facet CLI without Node, from the npm packages a
# release publishes (the registry is the only distribution server).
#
#   curl -fsSL https://raw.githubusercontent.com/agent-facets/facets/main/install.sh | sh
#   sh install.sh [--version X.Y.Z | --tag TAG] [--modify-path] [--uninstall]
#
# Environment: FACET_REGISTRY (else, on a re-run, the receipt's registry,
# else npm_config_registry, else the public registry), FACET_INSTALL_DIR (else $XDG_BIN_HOME, else ~/.local/bin),
# HTTPS_PROXY / HTTP_PROXY / NO_PROXY.
#
# What it does, in order (the same as `facet self-update`):
#  1. picks the platform packages this machine runs, best first, exactly as
#     the npm launcher (lib/platform.js candidates()) does;
#  2. reads the wrapper agent-facets from the registry's origin (?write=true)
#     and takes the version (--version, else the dist-tag, default latest)
#     only when the wrapper at that version lists a package of step 1 at that
#     version: a release whose wrapper is not yet published is never taken;
#  3. downloads that package's tarball and checks its sha512 integrity (from
#     the origin read) before anything is unpacked;
#  4. unpacks package/bin/facet into a temporary file in the install
#     directory, runs its --version, and renames it over the old binary (a
#     running or hard-linked old binary is never written through);
#  5. writes the receipt .facet-install.json beside it, which a re-run,
#     `facet self-update`, `facet doctor` and --uninstall read.
#
# POSIX sh (dash, bash, busybox ash), curl or wget, tar, awk; no jq, no Node.
# Every failure is one line "facet install: ..." on stderr and exit status 1,
# with nothing changed.
#
# Tests source this file with FACET_INSTALL_SOURCED=1 (main then does not run)
# and redefine _uname, _read_file, _exists and _sysctl to play other machines.

WRAPPER=agent-facets
RECEIPT=.facet-install.json
DEFAULT_REGISTRY=https://registry.npmjs.org
# The line --modify-path appends ends with this mark; --uninstall removes it.
PATH_MARK='# added by agent-facets install.sh'

# The platform packages, one a line: os cpu libc level package binary, with
# Node's names (os win32, cpu x64); libc and level are "-" where they do not
# apply, level is v3 (x86-64-v3, "AVX2") or baseline.
# generated:platforms (from platforms/platforms.go by go tool mage generate; do not edit)
PLATFORMS='
darwin arm64 - - @agent-facets/cli-darwin-arm64 bin/facet
darwin x64 - v3 @agent-facets/cli-darwin-x64 bin/facet
darwin x64 - baseline @agent-facets/cli-darwin-x64-baseline bin/facet
linux arm64 glibc - @agent-facets/cli-linux-arm64 bin/facet
linux arm64 musl - @agent-facets/cli-linux-arm64-musl bin/facet
linux x64 glibc v3 @agent-facets/cli-linux-x64 bin/facet
linux x64 glibc baseline @agent-facets/cli-linux-x64-baseline bin/facet
linux x64 musl baseline @agent-facets/cli-linux-x64-baseline-musl bin/facet
linux x64 musl v3 @agent-facets/cli-linux-x64-musl bin/facet
win32 arm64 - - @agent-facets/cli-windows-arm64 bin/facet.exe
win32 x64 - v3 @agent-facets/cli-windows-x64 bin/facet.exe
win32 x64 - baseline @agent-facets/cli-windows-x64-baseline bin/facet.exe
'
# end:platforms

# The /proc/cpuinfo flags of x86-64-v3 (GOAMD64=v3), as the launcher's
# fastpath.js V3_CPUINFO_FLAGS lists them; LZCNT is abm or bmi1 (V3_CPUINFO_ANY).
V3_CPUINFO_FLAGS='pni ssse3 cx16 sse4_1 sse4_2 popcnt lahf_lm avx avx2 bmi1 bmi2 f16c fma movbe'
V3_CPUINFO_ANY='abm bmi1'
# The same features as macOS's sysctl names them (platform.js MACOS_V3_FEATURES).
MACOS_V3_FEATURES='SSE3 SSSE3 CX16 SSE4.1 SSE4.2 POPCNT LAHF AVX1.0 OSXSAVE AVX2 BMI1 BMI2 FMA F16C LZCNT MOVBE'

# ---- the machine (tests redefine these four) --------------------------------

_uname() { uname "$@"; }
_read_file() { cat "$1" 2>/dev/null; }
# _exists PATTERN: whether a file matches the glob pattern.
_exists() {
  for _e_f in $1; do
    [ -e "$_e_f" ] && return 0
  done
  return 1
}
_sysctl() { /usr/sbin/sysctl "$@" 2>/dev/null; }

# ---- messages ----------------------------------------------------------------

# redact TEXT: TEXT without the user:password@ of any URL in it, and with
# the value of each query parameter whose name says it holds a secret
# (?token=..., access_key=...) replaced by REDACTED, as facet masks them: a
# registry or tarball URL may carry credentials; no message or receipt shows them.
redact() {
  printf '%s\n' "$*" | sed 's|://[^/@ ]*@|://|g' | awk '{
    out = ""; s = $0
    while (match(s, /[?&][^?&=# "]*=[^&# "]*/)) {
      m = substr(s, RSTART, RLENGTH); eq = index(m, "=")
      if (tolower(substr(m, 2, eq - 2)) ~ /token|auth|key|secret|pass|sig|credential/) m = substr(m, 1, eq) "REDACTED"
      out = out substr(s, 1, RSTART - 1) m; s = substr(s, RSTART + RLENGTH)
    }
    print out s
  }'
}
say() { redact "$*"; }
# die MESSAGE: the one line of a failure, then exit 1 (temporary files go with it).
die() {
  printf 'facet install: %s\n' "$(redact "$*" | tr '\n' ' ' | sed 's/ *$//')" >&2
  exit 1
}

# ---- machine detection -------------------------------------------------------

# host_os: Node's process.platform for this machine (win32 under MSYS, Git
# Bash and Cygwin), or the lower-cased uname -s of an unknown one.
host_os() {
  _s=$(_uname -s)
  case $_s in
    Linux) echo linux ;;
    Darwin) echo darwin ;;
    MINGW* | MSYS* | CYGWIN*) echo win32 ;;
    *) printf '%s\n' "$_s" | tr 'A-Z' 'a-z' ;;
  esac
}

# host_cpu: Node's process.arch for this machine's CPU.
host_cpu() {
  _m=$(_uname -m)
  case $_m in
    x86_64 | amd64 | x64) echo x64 ;;
    aarch64 | arm64 | aarch64_be) echo arm64 ;;
    i?86 | x86) echo ia32 ;;
    armv*) echo arm ;;
    *) printf '%s\n' "$_m" ;;
  esac
}

# host_libc: musl or glibc, without ldd, as the launcher sees it: Alpine's
# release file says musl (its gcompat adds a glibc loader name); else glibc's
# loader says glibc (Debian's musl package adds a musl loader beside it); else
# musl's loader says musl.
host_libc() {
  if _exists /etc/alpine-release; then
    echo musl
  elif _exists '/lib*/ld-linux*.so.*'; then
    echo glibc
  elif _exists '/lib/ld-musl-*.so.1'; then
    echo musl
  else
    echo glibc
  fi
}

# has_words WORDS LIST: whether every word of WORDS is a word of LIST.
has_words() {
  for _w in $1; do
    case " $2 " in
      *" $_w "*) ;;
      *) return 1 ;;
    esac
  done
  return 0
}

# host_v3 OS: yes, no, or unknown: whether this x64 CPU runs x86-64-v3 builds.
# Linux, MSYS and Cygwin read the first CPU's flags in /proc/cpuinfo, macOS
# asks sysctl for CPUID's features.
host_v3() {
  case $1 in
    darwin)
      _feat=$(_sysctl -n machdep.cpu.features machdep.cpu.leaf7_features machdep.cpu.extfeatures) || { echo unknown; return; }
      _feat=$(printf '%s\n' "$_feat" | tr '\n\t' '  ')
      if has_words "$MACOS_V3_FEATURES" "$_feat"; then echo yes; else echo no; fi
      ;;
    *)
      _flags=$(_read_file /proc/cpuinfo | awk '/^flags[ \t]*:/ { sub(/^[^:]*:/, ""); print; exit }')
      if [ -z "$_flags" ]; then
        echo unknown
        return
      fi
      _flags=$(printf '%s\n' "$_flags" | tr '\t' ' ')
      _any=no
      for _w in $V3_CPUINFO_ANY; do
        has_words "$_w" "$_flags" && _any=yes
      done
      if [ $_any = yes ] && has_words "$V3_CPUINFO_FLAGS" "$_flags"; then echo yes; else echo no; fi
      ;;
  esac
}

# host_rosetta OS CPU: yes when an x64 shell runs under Rosetta 2 on Apple silicon.
host_rosetta() {
  if [ "$1" = darwin ] && [ "$2" = x64 ] && [ "$(_sysctl -in sysctl.proc_translated)" = 1 ]; then
    echo yes
  else
    echo no
  fi
}

# candidates: the platform packages this machine runs, best first, one a
# line, as the launcher's candidates() orders them:
#  1. the machine's CPU; under Rosetta arm64 first, x64 after;
#  2. on Linux, the machine's libc first (the binaries are static);
#  3. on x64, the v3 builds first when the CPU runs them, baseline first
#     otherwise (and when that is unknown);
#  then table order.
candidates() {
  _os=$(host_os)
  _cpu=$(host_cpu)
  _libc=-
  [ "$_os" = linux ] && _libc=$(host_libc)
  _v3=unknown
  [ "$_cpu" = x64 ] && _v3=$(host_v3 "$_os")
  _cpus=$_cpu
  [ "$(host_rosetta "$_os" "$_cpu")" = yes ] && _cpus="arm64 $_cpu"
  _i=0
  printf '%s\n' "$PLATFORMS" | while read -r _p_os _p_cpu _p_libc _p_level _p_pkg _p_bin; do
    [ -n "$_p_os" ] || continue
    _i=$((_i + 1))
    [ "$_p_os" = "$_os" ] || continue
    _r0=0
    _found=no
    for _c in $_cpus; do
      [ "$_c" = "$_p_cpu" ] && { _found=yes; break; }
      _r0=$((_r0 + 1))
    done
    [ $_found = yes ] || continue
    _r1=0
    [ "$_p_libc" != - ] && [ "$_p_libc" != "$_libc" ] && _r1=1
    _r2=0
    if [ "$_p_cpu" = x64 ]; then
      # baseline == (v3 is yes) ranks it second
      if [ "$_p_level" = baseline ] && [ "$_v3" = yes ]; then _r2=1; fi
      if [ "$_p_level" != baseline ] && [ "$_v3" != yes ]; then _r2=1; fi
    fi
    printf '%d %d %d %03d %s %s\n' "$_r0" "$_r1" "$_r2" "$_i" "$_p_pkg" "$_p_bin"
  done | sort | while read -r _a _b _c _d _pkg _bin; do
    printf '%s %s\n' "$_pkg" "$_bin"
  done
}

# supported: the names of the supported platforms, for the unknown-platform message.
supported() {
  printf '%s\n' "$PLATFORMS" | awk 'NF { n = $5; sub(/^.*\/cli-/, "", n); s = s (s ? ", " : "") n } END { print s }'
}

# ---- JSON --------------------------------------------------------------------

# json_get PATH...: prints the string (or number, true, false) at the key
# path of the JSON document on stdin, e.g. json_get versions 1.2.3 dist
# integrity; exits 1 when there is none. json_keys PATH...: prints the keys
# of the object at the path, one a line.
json_get() { _json_path "$@"; awk -v path="$_jp" -v keys=0 "$JSON_AWK"; }
json_keys() { _json_path "$@"; awk -v path="$_jp" -v keys=1 "$JSON_AWK"; }
_json_path() {
  _jp=
  for _k in "$@"; do
    _jp="$_jp${_jp:+	}$_k" # keys joined by tabs, which no key here holds
  done
}

# A small JSON reader in POSIX awk (mawk, gawk, busybox and BSD awk). Records
# are split at double quotes (RS), so that every other record is the inside of
# a string (a record ending in an odd number of backslashes ends at an escaped
# quote, and the string goes on); the records between strings hold the
# structure ({ } [ ] : ,) and the bare literals. It keeps the key of each
# level (an array's items are keyed 0, 1, ...) and prints the first value
# whose keys are the wanted path. One pass, time linear in the document.
JSON_AWK='
BEGIN { RS = "\""; n = split(path, want, "\t"); depth = 0; instr = 0; s = ""; lit = ""; found = 0 }
# matches: whether the keys of levels 1..n are the wanted ones.
function matches(   i) {
  for (i = 1; i <= n; i++) if (key[i] "" != want[i] "") return 0
  return 1
}
function value(v) {
  if (!keys && depth == n && matches()) { print v; found = 1; exit }
}
function flush() {
  if (lit != "") { value(lit); lit = "" }
}
# scan: the structure between two strings.
function scan(text,   i, c) {
  for (i = 1; i <= length(text); i++) {
    c = substr(text, i, 1)
    if (c == "{" || c == "[") {
      depth++; kind[depth] = c; key[depth] = (c == "[") ? 0 : ""; haskey[depth] = (c == "[")
    } else if (c == "}" || c == "]") {
      flush(); depth--
    } else if (c == ",") {
      flush()
      if (kind[depth] == "[") key[depth]++; else haskey[depth] = 0
    } else if (c == ":") {
      haskey[depth] = 1
    } else if (c == " " || c == "\t" || c == "\n" || c == "\r") {
      flush()
    } else {
      lit = lit c
    }
  }
}
# string: a whole string, a key or a value.
# unescape: the string with its escapes (\" \\ \/ \n \t) undone; \u is kept.
function unescape(v,   out, i, c) {
  if (index(v, "\\") == 0) return v
  out = ""
  for (i = 1; i <= length(v); i++) {
    c = substr(v, i, 1)
    if (c == "\\" && i < length(v)) {
      c = substr(v, ++i, 1)
      if (c == "n") c = "\n"; else if (c == "t") c = "\t"; else if (c == "u") c = "\\u"
    }
    out = out c
  }
  return out
}
function string(v) {
  v = unescape(v)
  if (kind[depth] == "{" && !haskey[depth]) {
    key[depth] = v
    if (keys && depth == n + 1 && matches()) { print v; found = 1 }
  } else {
    value(v)
  }
}
{
  if (instr) {
    s = s $0
    if (match($0, /\\+$/) && RLENGTH % 2 == 1) { s = s "\""; next }
    instr = 0; string(s); s = ""
  } else {
    scan($0); instr = 1
  }
}
END { exit found ? 0 : 1 }
'

# ---- HTTP --------------------------------------------------------------------

# http_tool: curl or wget, whichever exists (curl first: some busybox wget
# builds do not check TLS certificates).
http_tool() {
  if command -v curl >/dev/null 2>&1; then
    echo curl
  elif command -v wget >/dev/null 2>&1; then
    echo wget
  else
    die "neither curl nor wget is installed: install one of them and run this again"
  fi
}

# proxy_env: the proxy variables both tools read. curl reads https_proxy and
# HTTPS_PROXY but only a lower-case http_proxy; wget reads only lower-case
# names: copy the upper-case ones down where the lower-case ones are unset.
proxy_env() {
  [ -n "${https_proxy:-}" ] || { [ -n "${HTTPS_PROXY:-}" ] && https_proxy=$HTTPS_PROXY && export https_proxy; }
  [ -n "${http_proxy:-}" ] || { [ -n "${HTTP_PROXY:-}" ] && http_proxy=$HTTP_PROXY && export http_proxy; }
  [ -n "${no_proxy:-}" ] || { [ -n "${NO_PROXY:-}" ] && no_proxy=$NO_PROXY && export no_proxy; }
  :
}

# split_registry: takes the user:password@ out of REGISTRY into REG_AUTH (as
# the URL writes it, percent-escapes and all) and sets REG_ORIGIN; fetch adds
# REG_AUTH back to the URLs of that origin only.
split_registry() {
  REG_AUTH=
  _host=${REGISTRY#*://}
  _host=${_host%%/*}
  case $_host in
    *@*)
      REG_AUTH=${_host%@*}
      REGISTRY="${REGISTRY%%://*}://${_host##*@}${REGISTRY#*://"$_host"}"
      ;;
  esac
  REG_ORIGIN=$(origin "$REGISTRY")
}

# origin URL: scheme://host[:port] of URL, lower-cased, without credentials
# and without the scheme's default port.
origin() {
  _o_scheme=${1%%://*}
  _o_host=${1#*://}
  _o_host=${_o_host%%/*}
  _o_host=${_o_host%%\?*}
  _o_host=${_o_host##*@}
  case $_o_scheme:$_o_host in
    [Hh][Tt][Tt][Pp]:*:80) _o_host=${_o_host%:80} ;;
    [Hh][Tt][Tt][Pp][Ss]:*:443) _o_host=${_o_host%:443} ;;
  esac
  printf '%s://%s\n' "$_o_scheme" "$_o_host" | tr 'A-Z' 'a-z'
}

# with_auth URL: URL with the registry's credentials when it is on the
# registry's origin (scheme, host and port) and has none of its own, as npm
# sends them; any other URL as it is: credentials never go to another host.
with_auth() {
  _wa_host=${1#*://}
  _wa_host=${_wa_host%%/*}
  if [ -n "$REG_AUTH" ] && [ "$(origin "$1")" = "$REG_ORIGIN" ]; then
    case $_wa_host in
      *@*) ;;
      *) printf '%s://%s@%s\n' "${1%%://*}" "$REG_AUTH" "${1#*://}"; return ;;
    esac
  fi
  printf '%s\n' "$1"
}

# fetch URL FILE: downloads URL into FILE (Accept: application/json) and sets
# HTTP_STATUS; fails with a clear line when the registry cannot be reached.
# URL is without credentials; those of the registry are added for its origin,
# and are given to curl and GNU wget on their stdin, not in their arguments,
# which ps shows to every user.
fetch() {
  HTTP_STATUS=
  _url=$(with_auth "$1")
  case $TOOL in
    curl)
      # Give up on a registry that does not answer in 30 s, or that sends
      # nothing for 60 s (no bound on the whole: a tarball may be slow). The
      # URL comes in a config on stdin (-K -), quoted as curl reads it.
      # From an https registry, a redirect may only go to https.
      _redir=
      case $REGISTRY in
        [Hh][Tt][Tt][Pp][Ss]://*) _redir='--proto-redir =https' ;;
      esac
      HTTP_STATUS=$(printf 'url = "%s"\n' "$(printf '%s\n' "$_url" | sed 's/[\\"]/\\&/g')" |
        curl -sS -L --connect-timeout 30 --speed-limit 1 --speed-time 60 $_redir \
          -H 'Accept: application/json' -o "$2" -w '%{http_code}' -K - 2>"$WORK/http.err")
      _rc=$?
      ;;
    wget)
      # wget exits non-zero for any status >= 400; its server response (-S,
      # indented header lines) says which status it was. Only that exit
      # counts as an answer (GNU wget's 8, busybox's 1 with a status >= 400):
      # any other failure (a connection lost half-way) is one.
      # Neither wget can refuse a redirect from https to http (GNU wget's
      # --https-only is for recursive downloads only): curl comes first.
      if [ "$WGET" = gnu ]; then
        # The URL comes on stdin (-i -); credentials are sent without
        # waiting for a challenge, as curl and npm send them.
        printf '%s\n' "$_url" |
          wget -nv -S --tries=2 --timeout=60 --auth-no-challenge --header='Accept: application/json' -O "$2" -i - 2>"$WORK/http.err"
      else
        # busybox's own timeout (-T) crashes Debian 12's busybox: its default of 900 s it is.
        # busybox wget reads no URL list and no config file: the
        # credentials can only go in its arguments.
        wget -q -S --header='Accept: application/json' -O "$2" "$_url" 2>"$WORK/http.err"
      fi
      _rc=$?
      HTTP_STATUS=$(awk '$1 ~ /^HTTP\// { s = $2 } END { print s }' "$WORK/http.err")
      case $_rc:$WGET in
        0:*) ;;
        8:gnu | 1:busybox) [ "${HTTP_STATUS:-0}" -ge 400 ] 2>/dev/null && _rc=0 ;;
      esac
      ;;
  esac
  if [ "$_rc" != 0 ] || [ -z "$HTTP_STATUS" ] || [ "$HTTP_STATUS" = 000 ]; then
    # The reason: the last line that is not one of wget's indented headers.
    # (GNU wget's summary of an -i list, FINISHED and Downloaded, is no reason.)
    _why=$(grep -v -e '^  ' -e '^FINISHED --' -e '^Total wall clock' -e '^Downloaded: ' "$WORK/http.err" | grep . | tail -n 1 | sed 's/^[a-z]*: //')
    die "cannot reach $1 (${_why:-no answer}): check your network, your proxy (HTTPS_PROXY) and FACET_REGISTRY"
  fi
}

# fetch_json URL FILE WHAT: like fetch, but any status but 200 fails, naming WHAT.
fetch_json() {
  fetch "$1" "$2"
  case $HTTP_STATUS in
    200) ;;
    404) die "$3 is not on the registry $REGISTRY (HTTP 404 for $1): check FACET_REGISTRY" ;;
    *) die "the registry answered HTTP $HTTP_STATUS for $1$(registry_error "$2"): try again later, or check FACET_REGISTRY" ;;
  esac
}

# registry_error FILE: ": <the error the registry gave>" or nothing.
registry_error() {
  [ -f "$1" ] || return 0
  _msg=$(json_get error <"$1" 2>/dev/null) && [ -n "$_msg" ] && printf ' (%s)' "$_msg"
}

# escape_name NAME: the package name as a registry URL path holds it.
escape_name() { printf '%s\n' "$1" | sed 's|/|%2f|'; }

# ---- sha512 ------------------------------------------------------------------

# sha512_hex FILE: the file's sha512, in hex.
sha512_hex() {
  if command -v sha512sum >/dev/null 2>&1; then
    sha512sum "$1" | awk '{ print $1 }'
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 512 "$1" | awk '{ print $1 }'
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha512 "$1" | awk '{ print $NF }'
  else
    die "no sha512sum, shasum or openssl to check the download with: install one of them"
  fi
}

# b64_encode: the bytes on stdin in base64, without line breaks. Only
# encoding: macOS 12's base64 decodes with -D alone, every base64 encodes alike.
b64_encode() {
  if command -v base64 >/dev/null 2>&1; then base64 | tr -d '\n'; else openssl base64 -A; fi
}

# hex_integrity HEX: the digest as npm writes it, sha512-BASE64.
hex_integrity() {
  # Each byte as a \ooo escape, which printf's format turns into the byte.
  _oct=$(printf '%s\n' "$1" | awk '{ for (i = 1; i < length($0); i += 2) printf "\\%03o", index("0123456789abcdef", substr($0, i, 1)) * 16 + index("0123456789abcdef", substr($0, i + 1, 1)) - 17 }')
  # shellcheck disable=SC2059 # the format is the bytes
  printf 'sha512-%s\n' "$(printf "$_oct" | b64_encode)"
}

# ---- files -------------------------------------------------------------------

# json_string VALUE: VALUE as a JSON string (main refuses values with control
# characters, which would need more escapes than these).
json_string() {
  printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# tmp_in DIR: a new empty file in DIR (mode 600), to be renamed over a file
# there; fails when none can be made.
tmp_in() { mktemp "$1/.facet.XXXXXX" 2>/dev/null; }

# real_path FILE: FILE with its symbolic links followed: a profile may be a
# link into a dotfiles repository, and the file it names is the one replaced.
real_path() {
  _rp=$1
  _n=0
  while [ -h "$_rp" ] && [ $_n -lt 40 ]; do
    _to=$(ls -ld "$_rp" | sed 's/^.* -> //')
    case $_to in
      /*) _rp=$_to ;;
      *) _rp=$(dirname "$_rp")/$_to ;;
    esac
    _n=$((_n + 1))
  done
  printf '%s\n' "$_rp"
}

# native_path PATH: PATH as facet sees itself: the Windows form (C:\...)
# under MSYS, Git Bash and Cygwin, PATH elsewhere. The receipt holds this form.
native_path() {
  if [ "$(host_os)" = win32 ] && command -v cygpath >/dev/null 2>&1; then
    cygpath -w "$1"
  else
    printf '%s\n' "$1"
  fi
}

# write_failed WHAT ERRFILE: dies with the reason a write into the install dir failed.
write_failed() {
  _err=$(cat "$2" 2>/dev/null)
  case $_err in
    *"No space"* | *"no space"* | *"short write"* | *"Disk quota"*)
      die "disk full: cannot write $1 ($INSTALL_DIR): free some space or choose another directory with FACET_INSTALL_DIR" ;;
    *) die "cannot write $1: $(printf '%s\n' "$_err" | tail -n 1) (choose another directory with FACET_INSTALL_DIR, or fix its permissions)" ;;
  esac
}

# prepare_dir: creates the install dir, late (when the release has been
# checked), and NEW in it, the temporary file the binary goes into. CREATED
# is the top-most directory this run made: a failure removes it again.
prepare_dir() {
  _d=$INSTALL_DIR
  while [ ! -d "$_d" ]; do
    CREATED=$_d
    _d=$(dirname "$_d")
  done
  mkdir -p "$INSTALL_DIR" 2>"$WORK/mkdir.err" || die "cannot create $INSTALL_DIR: $(tail -n 1 "$WORK/mkdir.err") (choose another directory with FACET_INSTALL_DIR)"
  INSTALL_DIR=$(cd "$INSTALL_DIR" && pwd -P) || die "cannot enter $INSTALL_DIR"
  TARGET="$INSTALL_DIR/$EXE"
  NEW=$(tmp_in "$INSTALL_DIR") ||
    die "no permission to write in $INSTALL_DIR: choose another directory with FACET_INSTALL_DIR, or fix its permissions"
  # Windows runs only a file named *.exe.
  if [ "$OS" = win32 ]; then
    mv -f "$NEW" "$NEW.exe" 2>"$WORK/mv.err" || write_failed "$TARGET" "$WORK/mv.err"
    NEW=$NEW.exe
  fi
}

# swap_in: renames NEW over TARGET. A running facet.exe cannot be replaced,
# but it can be renamed: it goes aside first, under a name of its own
# (facet.exe.old-<random>, as facet self-update names it), so that an older
# one that still runs is in no one's way; the next start of facet removes
# those that no longer run.
swap_in() {
  if [ "$OS" = win32 ] && [ -f "$TARGET" ]; then
    _aside=${NEW##*/.facet.}
    _aside="$TARGET.old-${_aside%.exe}"
    mv -f "$TARGET" "$_aside" 2>"$WORK/mv.err" || write_failed "$TARGET" "$WORK/mv.err"
    if ! mv -f "$NEW" "$TARGET" 2>"$WORK/mv.err"; then
      mv -f "$_aside" "$TARGET" 2>/dev/null # the old one back
      write_failed "$TARGET" "$WORK/mv.err"
    fi
  else
    mv -f "$NEW" "$TARGET" 2>"$WORK/mv.err" || write_failed "$TARGET" "$WORK/mv.err"
  fi
  NEW=
}

# version_lt A B: whether version A comes before version B, by semver's
# precedence (1.2.0-beta.1 < 1.2.0; build metadata +... does not count).
version_lt() {
  awk -v a="$1" -v b="$2" '
  function parts(v, out,   i) {
    sub(/\+.*/, "", v); i = index(v, "-")
    out["pre"] = i ? substr(v, i + 1) : ""
    out["core"] = i ? substr(v, 1, i - 1) : v
  }
  BEGIN {
    parts(a, pa); parts(b, pb)
    split(pa["core"], x, "."); split(pb["core"], y, ".")
    for (i = 1; i <= 3; i++) if (x[i] + 0 != y[i] + 0) exit !(x[i] + 0 < y[i] + 0)
    if (pa["pre"] == pb["pre"] || pa["pre"] == "") exit 1
    if (pb["pre"] == "") exit 0
    na = split(pa["pre"], x, "."); nb = split(pb["pre"], y, ".")
    for (i = 1; i <= na && i <= nb; i++) {
      if (x[i] "" == y[i] "") continue
      xn = x[i] ~ /^[0-9]+$/; yn = y[i] ~ /^[0-9]+$/
      if (xn && yn) exit !(x[i] + 0 < y[i] + 0)
      if (xn || yn) exit !xn
      exit !(x[i] "" < y[i] "")
    }
    exit !(na < nb)
  }'
}

# read_receipt: sets R_VERSION, R_TAG, R_PACKAGE, R_REGISTRY, R_BINARY and
# R_PROFILES (one a line) from the receipt in the install dir; returns 1 when
# there is none.
read_receipt() {
  R_VERSION= R_TAG= R_PACKAGE= R_REGISTRY= R_BINARY= R_PROFILES=
  [ -f "$INSTALL_DIR/$RECEIPT" ] || return 1
  R_VERSION=$(json_get version <"$INSTALL_DIR/$RECEIPT")
  R_TAG=$(json_get tag <"$INSTALL_DIR/$RECEIPT")
  R_REGISTRY=$(json_get registry <"$INSTALL_DIR/$RECEIPT")
  R_PACKAGE=$(json_get package <"$INSTALL_DIR/$RECEIPT")
  R_BINARY=$(json_get binary <"$INSTALL_DIR/$RECEIPT")
  R_PROFILES=$(_i=0
    while _p=$(json_get profiles $_i <"$INSTALL_DIR/$RECEIPT"); do printf '%s\n' "$_p"; _i=$((_i + 1)); done)
  return 0
}

# prepare_receipt VERSION PACKAGE BINARY PROFILES: RECEIPT_TMP, the new
# receipt beside the old one; commit_receipt renames it over the old one.
prepare_receipt() {
  RECEIPT_TMP=$(tmp_in "$INSTALL_DIR") ||
    die "no permission to write in $INSTALL_DIR: choose another directory with FACET_INSTALL_DIR, or fix its permissions"
  {
    printf '{\n'
    printf '  "installer": "install.sh",\n'
    printf '  "version": %s,\n' "$(json_string "$1")"
    printf '  "tag": %s,\n' "$(json_string "$TAG")"
    printf '  "package": %s,\n' "$(json_string "$2")"
    printf '  "registry": %s,\n' "$(json_string "$(redact "$REGISTRY")")"
    printf '  "binary": %s,\n' "$(json_string "$3")"
    printf '  "profiles": ['
    _sep=
    printf '%s\n' "$4" | while IFS= read -r _p; do
      [ -n "$_p" ] || continue
      printf '%s%s' "$_sep" "$(json_string "$_p")"
      _sep=', '
    done
    printf ']\n}\n'
  } >"$RECEIPT_TMP" 2>"$WORK/receipt.err" || write_failed "$INSTALL_DIR/$RECEIPT" "$WORK/receipt.err"
  chmod 644 "$RECEIPT_TMP" 2>/dev/null
}
commit_receipt() {
  mv -f "$RECEIPT_TMP" "$INSTALL_DIR/$RECEIPT" 2>"$WORK/receipt.err" || write_failed "$INSTALL_DIR/$RECEIPT" "$WORK/receipt.err"
  RECEIPT_TMP=
}

# path_line: the line --modify-path adds to a profile.
path_line() { printf 'export PATH="%s:$PATH" %s\n' "$INSTALL_DIR" "$PATH_MARK"; }

# profile_file: the shell profile --modify-path edits, by $SHELL.
profile_file() {
  case ${SHELL:-} in
    */zsh) echo "${ZDOTDIR:-$HOME}/.zshrc" ;;
    */bash) if [ "$(_uname -s)" = Darwin ]; then echo "$HOME/.bash_profile"; else echo "$HOME/.bashrc"; fi ;;
    *) echo "$HOME/.profile" ;;
  esac
}

# check_path_dir: refuses, for --modify-path, an install dir whose name would
# run code in the PATH line ("...").
check_path_dir() {
  case $INSTALL_DIR in
    *[\"\$\`\\]*) die "cannot add $INSTALL_DIR to PATH: its name holds \", \$, \` or \\ (run without --modify-path and add it to PATH yourself)" ;;
  esac
}

# prepare_profile: for --modify-path, sets PROFILE, the profile to edit, and
# (unless it has the PATH line already) PROFILE_TMP: the profile with the
# line added, beside the file, which commit_profile renames over it once the
# binary is in place. Any failure comes before anything is changed.
prepare_profile() {
  check_path_dir
  PROFILE=$(profile_file)
  PROFILE_REAL=$(real_path "$PROFILE")
  if [ -e "$PROFILE_REAL" ]; then
    grep -qxF "$(path_line)" "$PROFILE_REAL" 2>"$WORK/profile.err"
    case $? in
      0) return 0 ;;
      1) ;;
      *) die "cannot read $PROFILE: $(tail -n 1 "$WORK/profile.err") (run without --modify-path and add the line yourself)" ;;
    esac
  fi
  _pdir=$(dirname "$PROFILE_REAL")
  PROFILE_TMP=$(tmp_in "$_pdir") ||
    die "cannot add $INSTALL_DIR to PATH in $PROFILE: no permission to write in $_pdir (run without --modify-path and add the line yourself)"
  if [ -e "$PROFILE_REAL" ]; then
    cp -p "$PROFILE_REAL" "$PROFILE_TMP" 2>"$WORK/profile.err" # its mode
  else
    chmod 644 "$PROFILE_TMP" 2>"$WORK/profile.err"
  fi || die "cannot add $INSTALL_DIR to PATH in $PROFILE: $(tail -n 1 "$WORK/profile.err")"
  {
    if [ -s "$PROFILE_REAL" ]; then
      cat "$PROFILE_REAL"
      [ -z "$(tail -c 1 "$PROFILE_REAL")" ] || echo # its last line had no newline
    fi
    path_line
  } >"$PROFILE_TMP" 2>"$WORK/profile.err" || die "cannot add $INSTALL_DIR to PATH in $PROFILE: $(tail -n 1 "$WORK/profile.err")"
}
commit_profile() {
  [ -n "$PROFILE_TMP" ] || return 0
  mv -f "$PROFILE_TMP" "$PROFILE_REAL" 2>"$WORK/profile.err" || die "cannot add $INSTALL_DIR to PATH in $PROFILE: $(tail -n 1 "$WORK/profile.err")"
  PROFILE_TMP=
  say "added $INSTALL_DIR to PATH in $PROFILE (open a new shell to use it)"
}

# on_path: whether the install dir is on PATH.
on_path() {
  case ":$PATH:" in
    *":$INSTALL_DIR:"*) return 0 ;;
  esac
  return 1
}

# ---- uninstall ---------------------------------------------------------------

# uninstall: removes the facet of the install dir's receipt, the PATH line
# from the profiles it lists, and the receipt. It removes only facet (or
# facet.exe) in the install dir: a receipt naming another file is refused.
uninstall() {
  read_receipt || die "nothing to uninstall: no $RECEIPT in $INSTALL_DIR (set FACET_INSTALL_DIR to where facet was installed)"
  _exe=
  for _name in facet facet.exe; do
    if [ "$R_BINARY" = "$INSTALL_DIR/$_name" ] || [ "$R_BINARY" = "$(native_path "$INSTALL_DIR/$_name")" ]; then
      _exe="$INSTALL_DIR/$_name"
    fi
  done
  [ -n "$_exe" ] ||
    die "the receipt $INSTALL_DIR/$RECEIPT names \"$R_BINARY\", not facet in $INSTALL_DIR: refusing to remove it (remove facet and the receipt yourself)"
  # Each profile that has the PATH line gets its new text beside it first
  # (three lines in $WORK/edits: the temporary file, the file, the profile),
  # then all are renamed over theirs: a failure leaves every profile as it was.
  _line=$(path_line)
  : >"$WORK/edits"
  while IFS= read -r _p; do
    [ -n "$_p" ] || continue
    _real=$(real_path "$_p")
    [ -f "$_real" ] || continue
    grep -qxF "$_line" "$_real" 2>"$WORK/profile.err"
    case $? in
      0) ;;
      1) continue ;;
      *) die "cannot read $_p: $(tail -n 1 "$WORK/profile.err")" ;;
    esac
    _tmp=$(tmp_in "$(dirname "$_real")") || die "cannot remove the PATH line from $_p: no permission to write in $(dirname "$_real")"
    printf '%s\n%s\n%s\n' "$_tmp" "$_real" "$_p" >>"$WORK/edits"
    cp -p "$_real" "$_tmp" 2>"$WORK/profile.err" || die "cannot remove the PATH line from $_p: $(tail -n 1 "$WORK/profile.err")"
    grep -vxF "$_line" "$_real" >"$_tmp" 2>"$WORK/profile.err"
    [ $? -le 1 ] || die "cannot remove the PATH line from $_p: $(tail -n 1 "$WORK/profile.err")"
  done <<LIST
$R_PROFILES
LIST
  while IFS= read -r _tmp && IFS= read -r _real && IFS= read -r _p; do
    mv -f "$_tmp" "$_real" 2>"$WORK/profile.err" || die "cannot remove the PATH line from $_p: $(tail -n 1 "$WORK/profile.err")"
    say "removed the PATH line from $_p"
  done <"$WORK/edits"
  rm -f "$_exe" || die "cannot remove $_exe"
  # A Windows facet.exe renamed aside by an update that ran while it did
  # (facet.exe.old-<random>, or facet.exe.old of earlier installers).
  [ "$(host_os)" != win32 ] || rm -f "$_exe.old" "$_exe".old-*
  rm -f "$INSTALL_DIR/$RECEIPT" || die "cannot remove $INSTALL_DIR/$RECEIPT"
  say "uninstalled facet $R_VERSION from $_exe"
}

# ---- install -----------------------------------------------------------------

usage() {
  cat <<'USAGE'
Usage: sh install.sh [--version X.Y.Z | --tag TAG] [--modify-path] [--uninstall]

Installs the facet CLI for this machine from the npm registry, without Node.

  --version X.Y.Z  install this version (default: the dist-tag latest, or
                   on a re-run the dist-tag the receipt names)
  --tag TAG        install the version of this dist-tag (next, say)
  --modify-path    add the install directory to PATH in your shell profile
  --uninstall      remove what this installer installed
  --help           show this help

Environment:
  FACET_REGISTRY     the npm registry (else the receipt's, else npm_config_registry,
                     else https://registry.npmjs.org)
  FACET_INSTALL_DIR  where facet goes (else $XDG_BIN_HOME, else ~/.local/bin)
  HTTPS_PROXY        a proxy for the registry (HTTP_PROXY for an http:// registry)

Running it again updates facet; the receipt .facet-install.json beside it
records what was installed, for facet self-update and --uninstall.
USAGE
}

# cleanup: on exit, the temporary files go; after a failure, so does the
# install dir when this run created it.
cleanup() {
  for _t in "$NEW" "$RECEIPT_TMP" "$PROFILE_TMP"; do
    [ -z "$_t" ] || rm -f "$_t"
  done
  if [ -f "$WORK/edits" ]; then
    while IFS= read -r _t && IFS= read -r _r && IFS= read -r _p; do rm -f "$_t"; done <"$WORK/edits"
  fi
  [ -z "$WORK" ] || rm -rf "$WORK"
  if [ "$DONE" != yes ] && [ -n "$CREATED" ]; then
    _d=$DIR_ASKED
    while rmdir "$_d" 2>/dev/null && [ "$_d" != "$CREATED" ]; do _d=$(dirname "$_d"); done
  fi
}

main() {
  VERSION=
  TAG=
  VERSION_SET=no
  TAG_SET=no
  MODIFY_PATH=no
  UNINSTALL=no
  while [ $# -gt 0 ]; do
    case $1 in
      --version) [ $# -ge 2 ] || die "--version needs a version, as in --version 1.2.3"; VERSION=$2; VERSION_SET=yes; shift ;;
      --version=*) VERSION=${1#--version=}; VERSION_SET=yes ;;
      --tag) [ $# -ge 2 ] || die "--tag needs a dist-tag, as in --tag next"; TAG=$2; TAG_SET=yes; shift ;;
      --tag=*) TAG=${1#--tag=}; TAG_SET=yes ;;
      --modify-path) MODIFY_PATH=yes ;;
      --uninstall) UNINSTALL=yes ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown argument $1 (see sh install.sh --help)" ;;
    esac
    shift
  done
  [ $VERSION_SET = no ] || [ $TAG_SET = no ] || die "--version and --tag both name a version: give one of them"
  if [ $VERSION_SET = yes ]; then
    VERSION=${VERSION#v} # v1.2.3, as a git tag writes it
    case $VERSION in
      *[!0-9A-Za-z.+-]*) die "--version \"$VERSION\" is not a version X.Y.Z" ;;
      [0-9]*.[0-9]*.[0-9]*) ;;
      *) die "--version \"$VERSION\" is not a version X.Y.Z" ;;
    esac
  fi
  if [ $TAG_SET = yes ]; then
    case $TAG in
      "" | *[!0-9A-Za-z._-]*) die "--tag \"$TAG\" is not a dist-tag: give one as in --tag next" ;;
    esac
  fi

  if [ -z "${FACET_INSTALL_DIR:-}${XDG_BIN_HOME:-}" ] || { [ $MODIFY_PATH = yes ] && [ $UNINSTALL = no ]; }; then
    [ -n "${HOME:-}" ] || die "HOME is not set: set it, or choose the install directory with FACET_INSTALL_DIR and add it to PATH yourself"
  fi
  INSTALL_DIR=${FACET_INSTALL_DIR:-${XDG_BIN_HOME:-$HOME/.local/bin}}
  # A re-run follows the receipt, as facet self-update does: its registry
  # comes after FACET_REGISTRY (before npm's), its dist-tag is the default.
  read_receipt
  if [ $TAG_SET = no ]; then
    case $R_TAG in
      "" | *[!0-9A-Za-z._-]*) TAG=latest ;;
      *) TAG=$R_TAG ;;
    esac
  fi
  REGISTRY=${FACET_REGISTRY:-${R_REGISTRY:-${npm_config_registry:-${NPM_CONFIG_REGISTRY:-$DEFAULT_REGISTRY}}}}
  while [ "${REGISTRY%/}" != "$REGISTRY" ]; do REGISTRY=${REGISTRY%/}; done
  split_registry
  # These end up in the receipt (JSON) and in a profile line.
  case $INSTALL_DIR$REGISTRY${HOME:-}${ZDOTDIR:-} in
    *[[:cntrl:]]*) die "the install directory, the registry URL or HOME holds a control character (a line break?): fix FACET_INSTALL_DIR, FACET_REGISTRY or HOME" ;;
  esac
  DIR_ASKED=$INSTALL_DIR
  [ $MODIFY_PATH = no ] || check_path_dir

  WORK=
  NEW=
  RECEIPT_TMP=
  PROFILE_TMP=
  CREATED=
  DONE=no
  trap cleanup EXIT
  trap 'exit 1' INT TERM HUP
  WORK=$(mktemp -d 2>/dev/null || mktemp -d -t facet-install) || die "cannot create a temporary directory (check TMPDIR)"

  if [ $UNINSTALL = yes ]; then
    [ -d "$INSTALL_DIR" ] || die "nothing to uninstall: $INSTALL_DIR does not exist (set FACET_INSTALL_DIR to where facet was installed)"
    INSTALL_DIR=$(cd "$INSTALL_DIR" && pwd -P) || die "cannot enter $INSTALL_DIR"
    uninstall
    DONE=yes
    return
  fi

  # 1. The packages this machine runs.
  OS=$(host_os)
  CANDIDATES=$(candidates)
  [ -n "$CANDIDATES" ] || die "no facet build for this platform ($(_uname -s) $(_uname -m)); supported: $(supported)"

  # The install dir is made only once the release has been checked (see
  # prepare_dir); an existing one is read for its receipt.
  if [ -d "$INSTALL_DIR" ]; then
    INSTALL_DIR=$(cd "$INSTALL_DIR" && pwd -P) || die "cannot enter $INSTALL_DIR"
  fi
  TOOL=$(http_tool) || exit 1
  WGET=
  if [ $TOOL = wget ]; then
    if wget --version 2>/dev/null | grep -q 'GNU Wget'; then WGET=gnu; else WGET=busybox; fi
    case $WGET:$REGISTRY in
      busybox:https:*) printf 'facet install: warning: busybox wget may not check the TLS certificate of %s (install curl to have it checked)\n' "$(redact "$REGISTRY")" >&2 ;;
    esac
  fi
  proxy_env

  # 2. The version, from the wrapper's origin read.
  fetch_json "$REGISTRY/$WRAPPER?write=true" "$WORK/wrapper.json" "$WRAPPER"
  if [ $VERSION_SET = yes ]; then
    [ "$(json_get versions "$VERSION" version <"$WORK/wrapper.json")" = "$VERSION" ] ||
      die "$WRAPPER@$VERSION is not published on $REGISTRY (see npm view $WRAPPER versions)"
  else
    VERSION=$(json_get dist-tags "$TAG" <"$WORK/wrapper.json") ||
      die "$WRAPPER has no dist-tag $TAG on $REGISTRY; its tags: $(json_keys dist-tags <"$WORK/wrapper.json" | tr '\n' ' ')"
    [ "$(json_get versions "$VERSION" version <"$WORK/wrapper.json")" = "$VERSION" ] ||
      die "$WRAPPER@$VERSION (dist-tag $TAG) is not published on $REGISTRY yet: try again in a few minutes"
  fi
  # The first candidate the wrapper lists; it must list it at this very
  # version (a candidate listed at another one is refused, not passed over
  # for the next: an AVX2 machine does not silently get the baseline build).
  PACKAGE=
  BIN=
  _first=
  while read -r _pkg _bin; do
    [ -n "$_first" ] || _first=$_pkg
    if _listed=$(json_get versions "$VERSION" optionalDependencies "$_pkg" <"$WORK/wrapper.json"); then
      [ "$_listed" = "$VERSION" ] ||
        die "$WRAPPER@$VERSION lists $_pkg@$_listed, not $VERSION: an incomplete release, not installed (try again later, or pick another with --version)"
      PACKAGE=$_pkg
      BIN=$_bin
      break
    fi
  done <<LIST
$CANDIDATES
LIST
  [ -n "$PACKAGE" ] || die "$WRAPPER@$VERSION does not list $_first@$VERSION: that release is not complete for this machine yet (try again later, or pick another with --version)"
  EXE=${BIN#bin/}
  TARGET="$INSTALL_DIR/$EXE"

  # Older than the installed one: a downgrade only when --version asks for
  # it, as facet self-update does.
  if read_receipt && [ -f "$TARGET" ] && [ $VERSION_SET = no ] && version_lt "$VERSION" "$R_VERSION"; then
    say "facet $R_VERSION is newer than $TAG's $VERSION: nothing to do"
    DONE=yes
    return 0
  fi
  # Already there: say so, change nothing (but --modify-path, when asked).
  if read_receipt && [ "$R_VERSION" = "$VERSION" ] && [ "$R_PACKAGE" = "$PACKAGE" ] &&
    [ "$R_BINARY" = "$(native_path "$TARGET")" ] && [ -f "$TARGET" ]; then
    say "facet $VERSION ($PACKAGE) is already installed at $TARGET"
    if [ $MODIFY_PATH = yes ]; then
      prepare_profile
      if ! printf '%s\n' "$R_PROFILES" | grep -qxF "$PROFILE"; then
        prepare_receipt "$VERSION" "$PACKAGE" "$R_BINARY" "$R_PROFILES
$PROFILE"
      fi
      commit_profile
      [ -z "$RECEIPT_TMP" ] || commit_receipt
    fi
    DONE=yes
    return 0
  fi

  # 3. The platform package's tarball, checked before it is unpacked.
  _escaped=$(escape_name "$PACKAGE")
  fetch_json "$REGISTRY/$_escaped?write=true" "$WORK/package.json" "$PACKAGE"
  [ "$(json_get versions "$VERSION" version <"$WORK/package.json")" = "$VERSION" ] ||
    die "$PACKAGE@$VERSION is not on the registry $REGISTRY yet: try again in a few minutes"
  INTEGRITY=$(json_get versions "$VERSION" dist integrity <"$WORK/package.json") ||
    die "$PACKAGE@$VERSION has no sha512 integrity on the registry $REGISTRY (only a sha1 shasum, or nothing): refusing to install it unchecked"
  case $INTEGRITY in
    sha512-*) ;;
    *) die "$PACKAGE@$VERSION has no sha512 integrity on the registry (got \"$INTEGRITY\"): refusing to install it unchecked" ;;
  esac
  TARBALL=$(json_get versions "$VERSION" dist tarball <"$WORK/package.json") || die "$PACKAGE@$VERSION has no tarball on the registry $REGISTRY"
  case $TARBALL in
    http://* | https://*) ;;
    *) die "$PACKAGE@$VERSION's tarball \"$TARBALL\" is not an http(s) URL: refusing it (check FACET_REGISTRY)" ;;
  esac
  say "downloading $PACKAGE@$VERSION"
  fetch "$TARBALL" "$WORK/package.tgz"
  [ "$HTTP_STATUS" = 200 ] || die "the registry answered HTTP $HTTP_STATUS for $TARBALL$(registry_error "$WORK/package.tgz"): try again later"
  # Compared as npm writes it (sha512-BASE64): base64 only encodes here.
  _hex=$(sha512_hex "$WORK/package.tgz") || exit 1
  _got=$(hex_integrity "$_hex")
  [ "$_got" = "$INTEGRITY" ] ||
    die "integrity mismatch for $PACKAGE@$VERSION: the registry lists $INTEGRITY, the tarball downloaded is $_got: refusing to install it"

  # 4. Unpacked into a temporary file beside the target, checked, then (with
  # the profile and the receipt prepared) renamed over it.
  prepare_dir
  tar -xzf "$WORK/package.tgz" -C "$WORK" "package/$BIN" 2>"$WORK/tar.err" && [ -f "$WORK/package/$BIN" ] && [ ! -h "$WORK/package/$BIN" ] ||
    die "$PACKAGE@$VERSION has no file package/$BIN in its tarball: $(tail -n 1 "$WORK/tar.err")"
  cp "$WORK/package/$BIN" "$NEW" 2>"$WORK/cp.err" || write_failed "$TARGET" "$WORK/cp.err"
  chmod 755 "$NEW" 2>"$WORK/cp.err" || write_failed "$TARGET" "$WORK/cp.err"
  _reported=$( (unset FACET_BIN_OVERRIDE FACET_BIN_OVERRIDE_FOLLOWED; "$NEW" --version </dev/null) 2>&1 | awk 'NR == 1 { print $NF }')
  [ "$_reported" = "$VERSION" ] ||
    die "the facet of $PACKAGE@$VERSION does not run here (its --version said \"$_reported\"): nothing was changed"

  # 5. The receipt: the binary by the path facet sees for itself.
  _binary=$(native_path "$TARGET")
  _profiles=
  read_receipt && _profiles=$R_PROFILES
  if [ $MODIFY_PATH = yes ]; then
    prepare_profile
    printf '%s\n' "$_profiles" | grep -qxF "$PROFILE" || _profiles="$_profiles
$PROFILE"
  fi
  prepare_receipt "$VERSION" "$PACKAGE" "$_binary" "$_profiles"

  swap_in
  DONE=yes
  commit_profile
  commit_receipt

  if [ -n "$R_VERSION" ] && version_lt "$VERSION" "$R_VERSION"; then
    say "downgraded facet $R_VERSION -> $VERSION at $TARGET"
  elif [ -n "$R_VERSION" ] && [ "$R_VERSION" != "$VERSION" ]; then
    say "updated facet $R_VERSION -> $VERSION at $TARGET"
  else
    say "installed facet $VERSION ($PACKAGE) at $TARGET"
  fi
  if [ $MODIFY_PATH = no ] && ! on_path; then
    say "$INSTALL_DIR is not on your PATH: add this line to your shell profile ($(profile_file)):"
    say "  $(path_line)"
  fi
}

if [ -z "${FACET_INSTALL_SOURCED:-}" ]; then
  main "$@"
fi
