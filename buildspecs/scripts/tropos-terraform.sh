#!/usr/bin/env bash
# Runs one Tropos terraform command for one component of one stack, for either engine of the seeds:
#   atmos:     atmos terraform <cmd> <component> -s <the stack's name in the repository, as the run resolved it>
#   terraform: terraform <cmd> in environments/<account>/<environment>/<component>
# and reports back through $TROPOS_EXPORTS (sourced by the buildspec; exported to the state machine):
#   TROPOS_EXIT_CODE, TROPOS_MESSAGE, TROPOS_PLAN_ADD/CHANGE/DESTROY/MOVE/IMPORT/FORGET/OUTPUTS, TROPOS_PLAN_CHANGES
#   (true when `plan -detailed-exitcode` exited 2), TROPOS_PLAN_SHA256, TROPOS_ARTIFACTS_PREFIX, TROPOS_COMMIT_SHA
#   (the commit the build worked on), TROPOS_TERRAFORM_VERSION (the terraform it ran).
# With TROPOS_DRY_RUN=true it prints every command it would run and runs none of them.
set -uo pipefail

# This script's folder (the scripts beside it), without a process: every build starts here, and its start is on the
# critical path of a run's builds.
here=${BASH_SOURCE[0]%/*}
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
[[ "$here" == /* ]] || here=$PWD/$here
# The run's context (TROPOS_CONTEXT, JSON set by the state machine). Every value in it was validated by the run's
# first state as a plain name (stack, account, region, bucket, account id: letters, digits, hyphens), so a
# field is read with a pattern; the component list is passed on as JSON. Variables already set win.
for pair in STACK:stack TENANT:tenant ACCOUNT:account ENVIRONMENT:environment REGION:region TIER:tier \
  ACCOUNT_ID:accountId STATE_BUCKET:stateBucket LOCK_TABLE:lockTable; do
  var="TROPOS_${pair%%:*}"
  if [ -z "${!var:-}" ] && [[ "${TROPOS_CONTEXT:-}" =~ \"${pair#*:}\":\"([A-Za-z0-9._-]*)\" ]]; then printf -v "$var" '%s' "${BASH_REMATCH[1]}"; fi
done
[[ "${TROPOS_CONTEXT:-}" =~ \"dryRun\":true ]] && TROPOS_DRY_RUN=${TROPOS_DRY_RUN:-true}
# A child run's commit (its parent's, handed over by Tropos): its Resolve stack checks out exactly that commit.
[[ "${TROPOS_CONTEXT:-}" =~ \"commit\":\"([0-9a-f]{40})\" ]] && TROPOS_COMMIT=${TROPOS_COMMIT:-${BASH_REMATCH[1]}}
# The run's `ref` input (validated: letters, digits, . _ / @ -): the repository's ref the run works at.
run_ref=""
[[ "${TROPOS_PARAMS:-}" =~ \"ref\":\"([A-Za-z0-9._/@-]+)\" ]] && run_ref=${BASH_REMATCH[1]}
[[ "${TROPOS_CONTEXT:-}" =~ \"components\":(\[[^]]*\]) ]] && TROPOS_STACK_COMPONENTS=${TROPOS_STACK_COMPONENTS:-${BASH_REMATCH[1]}}
export TROPOS_STACK TROPOS_TENANT TROPOS_ACCOUNT TROPOS_ENVIRONMENT TROPOS_REGION TROPOS_TIER TROPOS_ACCOUNT_ID \
  TROPOS_STATE_BUCKET TROPOS_LOCK_TABLE TROPOS_STACK_COMPONENTS
command=${TROPOS_COMMAND:?TROPOS_COMMAND is not set}
component=${TROPOS_COMPONENT:-}
stack=${TROPOS_STACK:-}
# The stack's name in the repository (Atmos's, from its name_pattern / name_template / manifest name), as the run
# resolved it: what `atmos ... -s` is given. Tropos's own name (<tenant>-<account>-<environment>) otherwise.
atmos_stack=${TROPOS_STACK_NAME:-$stack}
engine=${TROPOS_ENGINE:-terraform}
# How long terraform waits for a state lock another operation holds before it fails (terraform's -lock-timeout).
lock_timeout=${TROPOS_LOCK_TIMEOUT:-5m}
dry=${TROPOS_DRY_RUN:-false}
exports=${TROPOS_EXPORTS:-/tmp/tropos-exports.sh}
work=${TROPOS_WORK_DIR:-/tmp/tropos-work}
prefix="runs/${TROPOS_RUN_ID:-local}/${TROPOS_STEP:-step}/${component:-repository}"
# (the local control plane makes it beforehand: a process less on every local build)
[ -d "$work" ] || mkdir -p "$work"
: >"$exports"

# --- reporting ---------------------------------------------------------------------------------------------
export_var() { printf 'export %s=%q\n' "$1" "$2" >>"$exports"; }
finish() { # exit-code message
  read_version
  export_var TROPOS_EXIT_CODE "$1"
  export_var TROPOS_MESSAGE "$2"
  if [ "$1" = 1 ]; then export_var TROPOS_ERROR "$(tool_error)"; fi
  if [ "$1" = 0 ] || [ "$1" = 2 ]; then echo "tropos: $2"; exit 0; fi
  echo "tropos: ERROR: $2" >&2
  exit 1
}
say() { echo "tropos: $*"; }

# The terraform the build runs, once: into the variable terraform_version and the build's report (from the moment
# main wants it: not in a dry run). Asked in the background when the build starts (main), and waited for here. An
# apply asks only if it must: terraform applies a saved plan only with the version that made it ("plan files cannot
# be transferred between different Terraform versions"), so an apply that succeeded ran the version its plan's
# metadata names (applied_version); a process less on every apply.
version_wanted=false version_pid="" terraform_version="" applied_version=""
ask_version() {
  terraform version -json >"$work/version.json" 2>/dev/null &
  version_pid=$!
}
read_version() {
  [ "$version_wanted" = true ] || return 0
  version_wanted=false
  if [ -n "$applied_version" ] && [ -z "$version_pid" ]; then
    terraform_version=$applied_version
  else
    [ -n "$version_pid" ] || ask_version
    wait "$version_pid" 2>/dev/null
    version_pid=""
    local version_json=""
    [ -f "$work/version.json" ] && version_json=$(<"$work/version.json")
    [[ "$version_json" =~ \"terraform_version\":\ *\"([^\"]+)\" ]] && terraform_version=${BASH_REMATCH[1]}
  fi
  export_var TROPOS_TERRAFORM_VERSION "$terraform_version"
  say "terraform $terraform_version"
}

# --- parameters (TROPOS_PARAMS is the run's validated input as JSON) ---------------------------------------
param() { node -e 'const v = JSON.parse(process.env.TROPOS_PARAMS || "{}")[process.argv[1]]; process.stdout.write(v == null ? "" : String(v))' "$1"; }

# Runs a command, or prints it in a dry run. Prints it either way, so logs show what ran.
run() {
  if [ "$dry" = "true" ]; then echo "[dry-run] $*"; return 0; fi
  echo "+ $*"
  captured "$@"
}

# Runs a command with what it writes to stderr kept in $work/stderr.log (a failure's record carries terraform's own
# Error: block: tool_error) and passed on to the build's stderr, the log, when the command ends. Terraform writes only
# its errors to stderr, as a command ends: progress and warnings go to stdout, to the log as they come (what else
# goes to stderr, Atmos's own log lines or TF_LOG's debug log, arrives when its command ends). Builtins only: no tee
# process in every build, which on a 2-core machine starting several builds at once cost each ~40 ms.
captured() {
  local rc=0 err="$work/command.err" said=""
  "$@" 2>"$err" || rc=$?
  if [ -s "$err" ]; then
    IFS= read -r -d '' said <"$err"
    printf '%s' "$said" >>"$work/stderr.log"
    printf '%s' "$said" >&2
  fi
  return "$rc"
}

# The last "Error:" block a command wrote (terraform's, without its box drawing), at most 15 lines and 1000
# characters: what an operator reads first about a failure (the whole output stays in the build log).
tool_error() {
  [ -f "$work/stderr.log" ] || return 0
  sed -E 's/^(│|╷|╵) ?//' "$work/stderr.log" |
    awk '/^Error: /{n=NR} {l[NR]=$0} END{if(n){for(i=n;i<=NR && i<n+15;i++) print l[i]}}' | head -c 1000
}

require_tool() { # name version-wanted
  if [ "$dry" = "true" ]; then return 0; fi
  # type -P: the binary on PATH, not a shell function of the same name (aws is one, see credentials).
  if ! type -P "$1" >/dev/null 2>&1; then
    finish 1 "$1 not found on PATH (Tropos wants $1 ${2:-}); install it, or run with --dry-run to see the commands each step would run"
  fi
}

# --- infrastructure repository -------------------------------------------------------------------------------
checkout() {
  if [ -n "${TROPOS_INFRA_DIR:-}" ]; then
    repo=$TROPOS_INFRA_DIR
    if [ -n "$run_ref" ]; then local_checkout; atmos_paths; return; fi
    # Locally the builds use the folder as it is; say so when it moved on since the run resolved its stack.
    repo_commit checkout_commit
    if [ -n "${TROPOS_COMMIT:-}" ] && [ "$TROPOS_COMMIT" != "$checkout_commit" ]; then
      say "note: the run resolved its stack at $TROPOS_COMMIT; the local repository is now at $checkout_commit"
    fi
    atmos_paths; return
  fi
  repo="$work/infrastructure"
  local url=${TROPOS_INFRA_URL:?TROPOS_INFRA_URL is not set}
  if [ -n "${TROPOS_INFRA_TOKEN:-}" ]; then url=${url/https:\/\//https://x-access-token:${TROPOS_INFRA_TOKEN}@}; fi
  rm -rf "$repo"
  if [ -n "${TROPOS_COMMIT:-}" ]; then
    # The commit the run resolved its stack at: every build of the run works on the same one.
    git init --quiet "$repo" && git -C "$repo" fetch --quiet --depth 1 "$url" "$TROPOS_COMMIT" && git -C "$repo" checkout --quiet FETCH_HEAD \
      || finish 1 "cannot fetch commit $TROPOS_COMMIT of the infrastructure repository ${TROPOS_INFRA_URL}"
  elif [ -n "$run_ref" ]; then
    # The run's own ref (a branch, a tag or a commit SHA): fetched by name, as git servers allow.
    git init --quiet "$repo" && git -C "$repo" fetch --quiet --depth 1 "$url" "$run_ref" && git -C "$repo" checkout --quiet FETCH_HEAD \
      || finish 1 "cannot fetch ref $run_ref of the infrastructure repository ${TROPOS_INFRA_URL}: is it a branch, a tag or a commit of it?"
  else
    git clone --quiet --depth 1 --branch "${TROPOS_INFRA_REF:-main}" "$url" "$repo" || finish 1 "cannot clone the infrastructure repository ${TROPOS_INFRA_URL} at ${TROPOS_INFRA_REF:-main}"
  fi
  atmos_paths
}

# Locally, a run at a ref works on that commit of the folder's git repository, not on the folder as it is: the
# commit is exported once (git archive) under $TROPOS_CHECKOUTS_DIR/<sha>, and every build of the run uses it.
local_checkout() {
  local sha=${TROPOS_COMMIT:-} top prefix dir
  if [ -z "$sha" ]; then
    git -C "$TROPOS_INFRA_DIR" rev-parse --git-dir >/dev/null 2>&1 \
      || finish 1 "ref $run_ref: the local repository $TROPOS_INFRA_DIR is not a git repository; run without ref to use the folder as it is"
    # As in the cloud, where the build fetches the ref from the git server: a commit by its full SHA only (a server
    # fetches no abbreviation), else a branch or a tag.
    if [[ "$run_ref" =~ ^[0-9a-f]{4,39}$ ]] && ! git -C "$TROPOS_INFRA_DIR" show-ref --quiet --verify "refs/heads/$run_ref" \
      && ! git -C "$TROPOS_INFRA_DIR" show-ref --quiet --verify "refs/tags/$run_ref"; then
      finish 1 "ref $run_ref: name a commit by its full 40-character SHA (git servers fetch no abbreviation), or use a branch or a tag"
    fi
    sha=$(git -C "$TROPOS_INFRA_DIR" rev-parse --verify --quiet "${run_ref}^{commit}") \
      || finish 1 "ref $run_ref is not a branch, a tag or a commit of the local repository $TROPOS_INFRA_DIR"
  fi
  top=$(git -C "$TROPOS_INFRA_DIR" rev-parse --show-toplevel) && prefix=$(git -C "$TROPOS_INFRA_DIR" rev-parse --show-prefix) \
    || finish 1 "cannot read the git repository of $TROPOS_INFRA_DIR"
  dir="${TROPOS_CHECKOUTS_DIR:?TROPOS_CHECKOUTS_DIR is not set}/$sha"
  if [ ! -d "$dir" ]; then
    local tmp="$dir.tmp.$$"
    mkdir -p "$tmp" && git -C "$top" archive "$sha" | tar -x -C "$tmp" && mv "$tmp" "$dir" \
      || { rm -rf "$tmp"; [ -d "$dir" ] || finish 1 "cannot export commit $sha of $top"; }
  fi
  repo="$dir/$prefix"; repo=${repo%/}
  checkout_commit=$sha
  say "ref $run_ref: commit $sha of $top (exported to $dir)"
}

# The commit of the checkout into the variable (read once per build: checkout_commit); a local folder that is not in
# a git repository is its working tree.
repo_commit() { # variable
  if [ -n "${checkout_commit:-}" ]; then printf -v "$1" '%s' "$checkout_commit"; return; fi
  local sha=""
  if may_be_git; then sha=$(git -C "$repo" rev-parse --verify --quiet HEAD 2>/dev/null); fi
  printf -v "$1" '%s' "${sha:-working-tree}"
}

# Whether git may find a repository for the folder, told without starting a process (none on every build of a
# folder in no repository): GIT_DIR is set, or a .git is in the folder's physical path or a folder above it (git's
# own search); a folder this cannot enter is left to git.
may_be_git() {
  [ -z "${GIT_DIR:-}" ] || return 0
  local back=$PWD d
  CDPATH="" cd -P -- "$repo" 2>/dev/null || return 0
  d=$PWD
  cd -- "$back" || finish 1 "cannot return to $back"
  while [ -n "$d" ]; do [ -e "$d/.git" ] && return 0; d=${d%/*}; done
  [ -e /.git ]
}

# resolve: the run's stack as the repository defines it (buildspecs/scripts/resolve-stack.js), with the commit it
# was read at, stored under runs/<runId>/resolve/stack.json. Read-only, and done for real in a dry run too: the
# run's steps need the stack's components to know what they would do. A dry run on a stack the repository does not
# define yet (a dry-run onboarding writes nothing) resolves it as onboarding would write it, in a scratch copy.
resolve() {
  prefix="runs/${TROPOS_RUN_ID:-local}/resolve"
  local out="$work/stack.json" err="$work/resolve.err" commit from=$repo
  repo_commit commit
  # An onboarding only discovers the stacks the repository defines (its own is not there yet).
  local discover=${TROPOS_DISCOVER:-false}
  if [ "$discover" = "true" ] && [ "$engine" = "atmos" ]; then
    type -P atmos >/dev/null 2>&1 || finish 1 "atmos not found on PATH (Tropos wants atmos ${ATMOS_VERSION:-}): the repository's stacks are read with Atmos itself, also in a dry run"
    describe_stacks "$from"
    node "$here/resolve-stack.js" --discover atmos "$stack" "$work/described.json" >"$out" 2>"$err" || finish 1 "$(cat "$err")"
  elif [ "$discover" = "true" ]; then
    node "$here/resolve-stack.js" --discover terraform "$stack" "$repo" "${TROPOS_ACCOUNT:-}" "${TROPOS_ENVIRONMENT:-}" "${TROPOS_TENANT:-}" >"$out" 2>"$err" || finish 1 "$(cat "$err")"
  elif [ "$engine" = "atmos" ]; then
    type -P atmos >/dev/null 2>&1 || finish 1 "atmos not found on PATH (Tropos wants atmos ${ATMOS_VERSION:-}): the stack is resolved with Atmos itself, also in a dry run"
    say "atmos describe stacks (every stack of the repository, at $commit)"
    describe_stacks "$from"
    local rc=0
    node "$here/resolve-stack.js" atmos "$stack" "$work/described.json" >"$out" 2>"$err" || rc=$?
    # 3: the repository does not define the stack (resolve-stack.js).
    if [ "$rc" = 3 ] && [ "$dry" = "true" ]; then
      from=$(preview_stack) || finish 1 "dry run: cannot preview the configuration of $stack"
      describe_stacks "$from"
      rc=0 && node "$here/resolve-stack.js" atmos "$stack" "$work/described.json" >"$out" 2>"$err" || rc=$?
    fi
    [ "$rc" = 0 ] || finish 1 "$(cat "$err")"
  else
    if [ "$dry" = "true" ] && [ ! -d "$repo/environments/${TROPOS_ACCOUNT:-}/${TROPOS_ENVIRONMENT:-}" ]; then
      from=$(preview_stack) || finish 1 "dry run: cannot preview the configuration of $stack"
    fi
    node "$here/resolve-stack.js" terraform "$stack" "$from" "${TROPOS_ACCOUNT:-}" "${TROPOS_ENVIRONMENT:-}" "${TROPOS_TENANT:-}" >"$out" 2>"$err" || finish 1 "$(cat "$err")"
  fi
  # With the commit; and each component's state settings as shell assignments (components/<name>.sh), which each
  # of the run's builds sources (no JSON to parse per build): its state key, bucket, lock table and folder.
  local settings="$work/components"
  rm -rf "$settings" && mkdir -p "$settings"
  node "$here/component-settings.js" "$out" "$commit" "$settings" || finish 1 "cannot add the commit to the resolved stack"
  if [ -n "${TROPOS_ARTIFACTS_DIR:-}" ]; then mkdir -p "$TROPOS_ARTIFACTS_DIR/$prefix" && cp "$out" "$TROPOS_ARTIFACTS_DIR/$prefix/stack.json" && cp -R "$settings" "$TROPOS_ARTIFACTS_DIR/$prefix/"
  else
    command aws s3 cp --only-show-errors "$out" "s3://${TROPOS_ARTIFACTS_BUCKET}/$prefix/stack.json" \
      && command aws s3 cp --only-show-errors --recursive "$settings" "s3://${TROPOS_ARTIFACTS_BUCKET}/$prefix/components" \
      || finish 1 "cannot store the resolved stack in s3://${TROPOS_ARTIFACTS_BUCKET}/$prefix"
  fi
  finish 0 "$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const d = r.components.reduce((n, c) => n + c.dependsOn.length, 0); console.log(r.discovered ? `the repository defines ${r.stacks.length} stacks at ${r.commit}` : `resolved ${r.stack} at ${r.commit}: ${r.components.length} components, ${d} dependencies${r.ignored.length ? `; left out: ${r.ignored.join("; ")}` : ""}`)' "$out")"
}

describe_stacks() { # repository folder
  ATMOS_CLI_CONFIG_PATH="$1" ATMOS_BASE_PATH="$1" atmos describe stacks --format json >"$work/described.json" 2>"$work/resolve.err" \
    || finish 1 "atmos describe stacks failed: $(tail -c 1500 "$work/resolve.err")"
}

# A scratch copy of the repository with the stack's configuration as onboarding would write it (dry runs only).
preview_stack() {
  local preview="$work/preview"
  say "dry run: the repository does not define $stack yet; resolving it as onboarding would write it (in a scratch copy)" >&2
  rm -rf "$preview" && cp -R "$repo" "$preview" && node "$here/generate-stack-config.js" "$preview" >/dev/null \
    || finish 1 "dry run: cannot preview the configuration of $stack"
  echo "$preview"
}

# Atmos finds atmos.yaml in ATMOS_CLI_CONFIG_PATH and resolves its base_path from ATMOS_BASE_PATH: the checkout,
# whatever the working directory.
atmos_paths() {
  if [ "$engine" = "atmos" ]; then export ATMOS_CLI_CONFIG_PATH="$repo" ATMOS_BASE_PATH="$repo"; fi
}

# --- credentials -------------------------------------------------------------------------------------------
# The state backend (S3 and the lock table), the artifacts bucket and its key are Tropos's, in Tropos's account:
# they are reached with the build's own role. Only terraform's providers act in the target account, through the
# profile `tropos-target`, which assumes this kind's role there from the build's container credentials and
# refreshes itself (a long apply outlives one role session). Nothing edits the repository's provider blocks: a
# provider that names its own profile or role keeps it.
credentials() {
  if [ -z "${TROPOS_ACCOUNT_ID:-}" ] || [ -z "${TROPOS_ROLE_NAME:-}" ] || [ "${TROPOS_SKIP_ASSUME_ROLE:-false}" = "true" ]; then return; fi
  local arn="arn:aws:iam::${TROPOS_ACCOUNT_ID}:role/${TROPOS_ROLE_NAME}"
  export AWS_CONFIG_FILE="$work/aws-config"
  cat >"$AWS_CONFIG_FILE" <<CONFIG
[profile tropos-build]
credential_source = EcsContainer
region = ${TROPOS_BACKEND_REGION:-${TROPOS_REGION:-${AWS_REGION:-us-east-1}}}

[profile tropos-target]
role_arn = $arn
credential_source = EcsContainer
role_session_name = tropos-${TROPOS_RUN_ID:-local}
region = ${TROPOS_REGION:-${AWS_REGION:-us-east-1}}
CONFIG
  say "providers act as $arn (profile tropos-target, refreshed as it expires); state and artifacts with the build's role"
  # terraform and atmos: the providers' default profile; every `terraform init` (atmos runs its own) gives the
  # backend the build's profile, which wins over AWS_PROFILE.
  export AWS_PROFILE=tropos-target
  export TF_CLI_ARGS_init="-backend-config=profile=tropos-build${TF_CLI_ARGS_init:+ $TF_CLI_ARGS_init}"
  # The aws CLI (artifacts, state versions, the lock table) works with the build's role.
  aws() { AWS_PROFILE=tropos-build command aws "$@"; }
}

# --- terraform / atmos -------------------------------------------------------------------------------------
# The component's state as the run resolved it (runs/<runId>/resolve/components/<component>.sh, written from the
# resolved stack: Atmos's own S3 layout and backend section, or the plain-terraform layout's key): never assumed. Sets state_key, state_bucket, lock_table and
# component_folder (Atmos's metadata.component).
state_key="" state_bucket=${TROPOS_STATE_BUCKET:-} lock_table=${TROPOS_LOCK_TABLE:-} component_folder=""
component_state() {
  local file="$work/component-state.sh" from="runs/${TROPOS_RUN_ID:-local}/resolve/components/${component}.sh"
  # Locally the artifacts are a folder: read in place.
  if [ -n "${TROPOS_ARTIFACTS_DIR:-}" ]; then file="$TROPOS_ARTIFACTS_DIR/$from" && [ -f "$file" ]
  else aws s3 cp --only-show-errors "s3://${TROPOS_ARTIFACTS_BUCKET:-}/$from" "$file" >/dev/null 2>&1; fi \
    || { [ "$dry" = "true" ] && return 0; finish 1 "$component is not a component of the stack run ${TROPOS_RUN_ID:-local} resolved ($from is missing: did its Resolve stack step run?)"; }
  local bucket="" table="" folder=""
  state_key=""
  # shellcheck disable=SC1090 # written by the run's resolve (component-settings.js; values single-quoted)
  . "$file"
  [ -n "$state_key" ] || finish 1 "the resolved stack gives $component no S3 state key (backend type not s3?): Tropos runs terraform on the S3 backend only"
  [ -n "$bucket" ] && state_bucket=$bucket
  [ -n "$table" ] && lock_table=$table
  [ -n "$folder" ] && component_folder=$folder
  return 0
}

# The component's folder (cdir) and its dependency lock file (lock_file), once its state settings are read.
cdir="" lock_file=""
component_dir() {
  if [ "$engine" = "atmos" ]; then cdir="$repo/components/terraform/${component_folder:-$component}"; else cdir="$repo/environments/${TROPOS_ACCOUNT}/${TROPOS_ENVIRONMENT}/$component"; fi
  # (terraform init writes it; a repository may commit it)
  lock_file="$cdir/.terraform.lock.hcl"
}

backend_args() { # into the array b
  # The state lives in Tropos's region (TROPOS_BACKEND_REGION), not the environment's.
  b=(-backend-config="bucket=${state_bucket}" -backend-config="key=${state_key}" -backend-config="region=${TROPOS_BACKEND_REGION:-${TROPOS_REGION:-}}" -backend-config="encrypt=true")
  if [ "${TROPOS_LOCKING:-dynamodb}" = "s3-native" ]; then b+=(-backend-config="use_lockfile=true"); else b+=(-backend-config="dynamodb_table=${lock_table}"); fi
}

# tf <terraform-subcommand> [args...]: in the component folder (terraform) or through atmos.
tf() {
  local sub=$1; shift
  if [ "$engine" = "atmos" ]; then
    run atmos terraform "$sub" "$component" -s "$atmos_stack" -- "$@"
  else
    run terraform -chdir="$cdir" "$sub" "$@"
  fi
}

init() {
  if [ "$engine" = "atmos" ]; then return 0; fi # atmos runs init itself, with the stack's backend settings
  if [ "$dry" != "true" ] && [ ! -d "$cdir" ]; then finish 1 "component folder $cdir does not exist in the infrastructure repository"; fi
  local b; backend_args
  tf init -input=false -no-color "${b[@]}" || finish 1 "terraform init failed for $component (backend s3://${state_bucket}/${state_key})"
}

artifacts() { [ -n "${TROPOS_ARTIFACTS_BUCKET:-}" ] && echo "s3://${TROPOS_ARTIFACTS_BUCKET}/$prefix"; }

upload() { # local-file name
  local dest; dest=$(artifacts) || return 0
  if [ -n "${TROPOS_ARTIFACTS_DIR:-}" ]; then mkdir -p "$TROPOS_ARTIFACTS_DIR/$prefix" && cp "$1" "$TROPOS_ARTIFACTS_DIR/$prefix/$2"; return; fi
  # The bucket's default encryption is its customer-managed key (no --sse: the aws/s3 key is no one else's).
  run aws s3 cp --only-show-errors "$1" "$dest/$2"
}

download() { # name variable local-file: the variable is set to where the artifact now is
  # The plan step's artifacts: this run's, or for a retry's reused plan those of the run it retries.
  local from="runs/${TROPOS_PLAN_RUN_ID:-${TROPOS_RUN_ID:-local}}/${TROPOS_PLAN_STEP:?TROPOS_PLAN_STEP is not set}/${component}/$1"
  # Locally the artifacts are a folder: read in place (as component_state does), nothing copied.
  if [ -n "${TROPOS_ARTIFACTS_DIR:-}" ]; then printf -v "$2" '%s' "$TROPOS_ARTIFACTS_DIR/$from"; [ -f "$TROPOS_ARTIFACTS_DIR/$from" ]; return; fi
  printf -v "$2" '%s' "$3"
  run aws s3 cp --only-show-errors "s3://${TROPOS_ARTIFACTS_BUCKET}/$from" "$3"
}

sha_of() { # variable file: the file's SHA-256 into the variable, '' when there is no such file
  local sum=""
  if [ -f "$2" ]; then sum=$(sha256sum "$2") && sum=${sum%% *}; fi
  printf -v "$1" '%s' "$sum"
}

# plan [extra args]: saves the plan, its JSON and text, the dependency lock file and what the plan was made from
# (plan-meta.json: commit, lock file SHA-256, terraform version); exports the counts, whether terraform found
# changes (exit 2) and the plan's SHA-256. Exit 0/2 are not failures.
plan() {
  local out="$work/tfplan"
  rm -f "$out"
  init
  local rc=0
  if [ "$engine" = "atmos" ]; then
    run atmos terraform plan "$component" -s "$atmos_stack" -- -input=false -no-color -lock-timeout="$lock_timeout" -detailed-exitcode -out="$out" "$@" || rc=$?
  else
    run terraform -chdir="$cdir" plan -input=false -no-color -lock-timeout="$lock_timeout" -detailed-exitcode -out="$out" "$@" || rc=$?
  fi
  if [ "$dry" = "true" ]; then finish 0 "dry run: no plan made"; fi
  if [ "$rc" != 0 ] && [ "$rc" != 2 ]; then finish 1 "terraform plan failed for $component (exit $rc); see the build log"; fi
  local json="$work/plan.json" text="$work/plan.txt" meta="$work/plan-meta.json"
  captured terraform -chdir="$cdir" show -json "$out" >"$json" || finish 1 "terraform show -json failed for $component"
  captured terraform -chdir="$cdir" show -no-color "$out" >"$text" || true
  local summary sha lock_sha
  summary=$(node "$here/plan-summary.js" "$json") || finish 1 "cannot read the plan JSON of $component"
  # The counts as Terraform's own summary gives them, and what it reports besides: moves, imports, forgets, outputs.
  # (One line of JSON with integer fields, from plan-summary.js: read with bash.)
  local add change destroy move import forget outputs field
  for field in add change destroy move import forget outputs; do
    [[ "$summary" =~ \"$field\":([0-9]+) ]] || finish 1 "cannot read the plan summary of $component: $summary"
    printf -v "$field" '%s' "${BASH_REMATCH[1]}"
  done
  sha_of sha "$out"
  sha_of lock_sha "$lock_file"
  read_version
  # Every value is hex, a commit or `working-tree`, or a version: no JSON escaping needed.
  printf '{"commit":"%s","lockSha256":"%s","planSha256":"%s","terraformVersion":"%s"}\n' \
    "$checkout_commit" "$lock_sha" "$sha" "$terraform_version" >"$meta" || finish 1 "cannot write the plan's metadata"
  upload "$out" tfplan; upload "$json" plan.json; upload "$text" plan.txt; upload "$meta" plan-meta.json
  [ -n "$lock_sha" ] && upload "$lock_file" terraform.lock.hcl
  export_var TROPOS_PLAN_ADD "$add"; export_var TROPOS_PLAN_CHANGE "$change"; export_var TROPOS_PLAN_DESTROY "$destroy"
  export_var TROPOS_PLAN_MOVE "$move"; export_var TROPOS_PLAN_IMPORT "$import"; export_var TROPOS_PLAN_FORGET "$forget"
  export_var TROPOS_PLAN_OUTPUTS "$outputs"
  # What an approver reviews: each resource that changes, as terraform marks it (bounded; plan.txt has it all).
  export_var TROPOS_PLAN_RESOURCES "$(node "$here/plan-summary.js" --resources "$json" || true)"
  export_var TROPOS_PLAN_SHA256 "$sha"; export_var TROPOS_ARTIFACTS_PREFIX "$prefix"
  # Changes are what terraform says they are: exit 2 (moves, imports, forgets and output changes included).
  if [ "$rc" = 2 ]; then
    export_var TROPOS_PLAN_CHANGES true
    local extra=""
    [ "$move" != 0 ] && extra+=" >$move moved"; [ "$import" != 0 ] && extra+=" <$import imported"
    [ "$forget" != 0 ] && extra+=" $forget forgotten"; [ "$outputs" != 0 ] && extra+=" $outputs output(s)"
    finish 2 "$component: +$add ~$change -$destroy$extra"
  fi
  export_var TROPOS_PLAN_CHANGES false
  finish 0 "$component: no changes"
}

# apply the saved plan of the same run and component, only if its SHA-256 is the approved one, it was made at this
# build's commit, and with this dependency lock file (the stored one is put in place and init may not change it).
apply_plan() {
  local expected=${TROPOS_PLAN_SHA256_EXPECTED:-}
  if [ -z "$expected" ] && [ "$dry" != "true" ]; then finish 0 "$component: the plan had no changes; nothing to apply"; fi
  local out meta planned_version=""
  [ -e "$work/tfplan" ] || [ -e "$work/plan-meta.json" ] && rm -f "$work/tfplan" "$work/plan-meta.json"
  download tfplan out "$work/tfplan" || { [ "$dry" = "true" ] || finish 1 "the saved plan of $component (step ${TROPOS_PLAN_STEP}) is missing from the artifacts"; }
  if [ "$dry" != "true" ]; then
    local actual; sha_of actual "$out"
    if [ "$actual" != "$expected" ]; then
      export_var TROPOS_PLAN_SHA256 "$actual"
      finish 1 "PlanMismatch: the plan file of $component has SHA-256 $actual but the reviewed plan was $expected; refusing to apply"
    fi
    download plan-meta.json meta "$work/plan-meta.json" || finish 1 "PlanMismatch: the saved plan of $component has no record of the commit and lock file it was made with; refusing to apply"
    local planned_commit planned_lock here_commit here_lock
    local meta_text; meta_text=$(<"$meta")
    [[ "$meta_text" =~ \"commit\":\"([^\"]*)\" ]] && planned_commit=${BASH_REMATCH[1]:--} || planned_commit=-
    [[ "$meta_text" =~ \"lockSha256\":\"([^\"]*)\" ]] && planned_lock=${BASH_REMATCH[1]:--} || planned_lock=-
    [[ "$meta_text" =~ \"terraformVersion\":\"([^\"]*)\" ]] && planned_version=${BASH_REMATCH[1]}
    here_commit=$checkout_commit
    if [ "$planned_commit" != "$here_commit" ]; then
      finish 1 "PlanMismatch: the plan of $component was made at commit $planned_commit, but this build is at $here_commit; refusing to apply (plan again)"
    fi
    sha_of here_lock "$lock_file"; [ -n "$here_lock" ] || here_lock=-
    if [ "$planned_lock" != "-" ]; then
      local stored stored_sha=""
      download terraform.lock.hcl stored "$work/terraform.lock.hcl" && sha_of stored_sha "$stored" && [ "$stored_sha" = "$planned_lock" ] \
        || finish 1 "PlanMismatch: the dependency lock file stored with the plan of $component is missing or altered; refusing to apply"
      if [ "$here_lock" != "-" ] && [ "$here_lock" != "$planned_lock" ]; then
        finish 1 "PlanMismatch: the plan of $component was made with another .terraform.lock.hcl (SHA-256 ${planned_lock:0:12}, here ${here_lock:0:12}); refusing to apply"
      fi
      cp "$stored" "$lock_file" || finish 1 "cannot put the plan's dependency lock file in place for $component"
      # terraform init may install only what the plan's lock file names (terraform reads the variable; so does the
      # init atmos runs itself).
      export TF_CLI_ARGS_init="-lockfile=readonly${TF_CLI_ARGS_init:+ $TF_CLI_ARGS_init}"
    elif [ "$here_lock" != "-" ]; then
      finish 1 "PlanMismatch: the plan of $component was made without a .terraform.lock.hcl, but the checkout has one; refusing to apply (plan again)"
    fi
  fi
  init
  # Why an apply failed is in what it wrote to stderr (kept in $work/stderr.log, see captured).
  local log="$work/stderr.log" rc=0
  if [ "$engine" = "atmos" ]; then
    # A saved plan through --planfile: atmos then passes no -var-file (terraform refuses variables with a plan).
    run atmos terraform apply "$component" -s "$atmos_stack" --planfile "$out" -- -input=false -no-color -lock-timeout="$lock_timeout" || rc=$?
  else
    run terraform -chdir="$cdir" apply -input=false -no-color -lock-timeout="$lock_timeout" "$out" || rc=$?
  fi
  if [ "$rc" != 0 ]; then
    if grep -qs "Saved plan is stale" "$log"; then finish 1 "terraform refused a stale plan for $component: the state changed since the plan was made; plan again"; fi
    if grep -qs "Error acquiring the state lock" "$log"; then finish 1 "the terraform state of $component is locked by another operation; see state-operations operation=lock-status"; fi
    finish 1 "terraform apply failed for $component (exit $rc); see the build log"
  fi
  if [ "$dry" = "true" ]; then finish 0 "dry run: $component not applied"; fi
  applied_version=$planned_version
  export_var TROPOS_PLAN_SHA256 "$expected"
  finish 0 "$component: applied plan ${expected:0:12}"
}

# The state lock's holder as terraform wrote it (its lock info JSON: ID, Who, Operation, Created), '' when the state
# is not locked: the lock table's item (DynamoDB locking) or the .tflock object (S3-native locking). A lock that
# cannot be read fails the build, naming why: it is never reported as no lock. Called as info=$(lock_info) || exit 1
# (its finish, in that subshell, has written the build's outcome).
lock_info() {
  local info err="$work/lock.err"
  if [ "${TROPOS_LOCKING:-dynamodb}" = "s3-native" ]; then
    if info=$(aws s3 cp --only-show-errors "s3://${state_bucket}/${state_key}.tflock" - 2>"$err"); then
      printf '%s' "$info"
    elif ! grep -qE '\(404\)|NoSuchKey|does not exist' "$err"; then
      finish 1 "cannot read the lock object s3://${state_bucket}/${state_key}.tflock: $(tail -c 300 "$err")"
    fi
    return 0
  fi
  info=$(aws dynamodb get-item --table-name "${lock_table}" --key "{\"LockID\":{\"S\":\"${state_bucket}/${state_key}\"}}" --query 'Item.Info.S' --output text 2>"$err") \
    || finish 1 "cannot read the lock table $lock_table: $(tail -c 300 "$err")"
  [ "$info" = "None" ] || printf '%s' "$info"
}

describe_lock() { # lock info JSON
  node -e 'const i = JSON.parse(process.argv[1]); console.log(`id ${i.ID}, held by ${i.Who}, operation ${i.Operation}, since ${i.Created}`)' "$1"
}

lock_status() {
  if [ "$dry" = "true" ]; then
    echo "[dry-run] read the state lock of ${state_bucket}/${state_key}"
    finish 0 "dry run: lock status not read"
  fi
  require_tool aws "CLI (version 2 in CodeBuild's image)"
  local info; info=$(lock_info) || exit 1
  if [ -z "$info" ]; then finish 0 "state of $component is not locked"; fi
  finish 0 "state of $component is locked: $(describe_lock "$info")"
}

# force-unlock: only the lock that was read, by its id (a made-up or stale id is refused before terraform runs).
force_unlock() {
  local wanted; wanted=$(param lock_id)
  if [ "$dry" != "true" ]; then
    require_tool aws "CLI (version 2 in CodeBuild's image)"
    local info held; info=$(lock_info) || exit 1
    [ -n "$info" ] || finish 1 "state of $component is not locked: nothing to force-unlock (lock_id $wanted)"
    [[ "$info" =~ \"ID\":\"([^\"]*)\" ]] && held=${BASH_REMATCH[1]}
    if [ "${held:-}" != "$wanted" ]; then
      finish 1 "refusing to force-unlock $component: its lock is $(describe_lock "$info"), not $wanted (run operation=lock-status and give its id)"
    fi
    say "before forcing: state of $component is locked: $(describe_lock "$info")"
  fi
  init
  tf force-unlock -force "$wanted" || finish 1 "terraform force-unlock $wanted failed"
  finish 0 "force-unlocked $wanted on $component"
}

# --- commands ----------------------------------------------------------------------------------------------
main() {
  [[ "$lock_timeout" =~ ^[0-9]+(s|m|h)$ ]] || finish 1 "TROPOS_LOCK_TIMEOUT=\"$lock_timeout\" is not a duration terraform's -lock-timeout takes; allowed: a whole number of s, m or h (like 30s, 5m)"
  checkout
  [ -n "${checkout_commit:-}" ] || repo_commit checkout_commit
  case "$command" in
    resolve) resolve ;;
    lint)
      require_tool terraform "$TERRAFORM_VERSION"
      run terraform fmt -check -recursive -diff "$repo" || finish 1 "terraform fmt found unformatted files (listed above); run terraform fmt -recursive"
      if command -v tflint >/dev/null 2>&1; then run tflint --recursive --chdir "$repo" || finish 1 "tflint found problems (listed above)"; fi
      finish 0 "repository is formatted"
      ;;
    generate-config)
      run node "$here/generate-stack-config.js" "$repo" || finish 1 "cannot write the stack configuration of $stack"
      if [ -z "${TROPOS_INFRA_DIR:-}" ]; then
        run git -C "$repo" add -A && run git -C "$repo" -c user.name=tropos -c user.email=tropos@localhost commit -qm "Onboard $stack (run ${TROPOS_RUN_ID:-local})" && run git -C "$repo" push -q origin "HEAD:${TROPOS_INFRA_REF:-main}" \
          || finish 1 "cannot push the stack configuration of $stack"
        checkout_commit=""
      fi
      # The commit with the configuration (pushed): the onboarding's deploy works on exactly that one.
      local pushed; repo_commit pushed
      export_var TROPOS_COMMIT_SHA "$pushed"
      finish 0 "stack configuration of $stack written"
      ;;
  esac

  [ -n "$component" ] || finish 1 "TROPOS_COMPONENT is not set: command $command runs on one component"
  require_tool terraform "$TERRAFORM_VERSION"
  [ "$engine" = "atmos" ] && require_tool atmos "$ATMOS_VERSION"
  credentials
  component_state
  component_dir
  # What the build worked on, for the component's record: every build of a run reports the same commit.
  export_var TROPOS_COMMIT_SHA "$checkout_commit"
  # terraform's version, for the records: asked beside the command's own work, and read when the build reports
  # (read_version): it is not needed before, and a real terraform takes a while to answer.
  if [ "$dry" != "true" ]; then
    version_wanted=true
    # An apply takes it from its plan's metadata (see read_version).
    case "$command" in apply | destroy) ;; *) ask_version ;; esac
  fi
  say "$command $component of $stack (engine $engine, commit $checkout_commit)"

  case "$command" in
    plan | drift) plan ;;
    plan-destroy) plan -destroy ;;
    apply | destroy) apply_plan ;;
    validate)
      if [ "$engine" = "atmos" ]; then run atmos terraform validate "$component" -s "$atmos_stack" || finish 1 "terraform validate failed for $component"
      # No backend here: the backend's profile (TF_CLI_ARGS_init) does not apply to an init without one.
      else run env -u TF_CLI_ARGS_init terraform -chdir="$cdir" init -backend=false -input=false -no-color && run terraform -chdir="$cdir" validate -no-color || finish 1 "terraform validate failed for $component"; fi
      finish 0 "$component is valid"
      ;;
    compliance)
      plan_json="$work/plan.json"
      init
      tf plan -input=false -no-color -lock-timeout="$lock_timeout" -out="$work/tfplan" || finish 1 "terraform plan failed for $component"
      [ "$dry" = "true" ] && finish 0 "dry run: compliance not evaluated"
      captured terraform -chdir="$cdir" show -json "$work/tfplan" >"$plan_json" || finish 1 "terraform show -json failed"
      node "$here/compliance.js" "$plan_json" || finish 1 "$component does not pass the compliance policy (findings listed above: VIOLATION, or UNKNOWN when compliance.unknown is fail)"
      finish 0 "$component complies"
      ;;
    import)
      type=$(param resource_type); id=$(param resource_id); address=$(param resource_address)
      init
      tf import -input=false -no-color -lock-timeout="$lock_timeout" "${address:-$type.this}" "$id" || finish 1 "terraform import of $id into ${address:-$type.this} failed"
      finish 0 "imported $id into ${address:-$type.this}"
      ;;
    state-inspect)
      case "$(param operation)" in
        list) init; tf state list || finish 1 "terraform state list failed"; finish 0 "listed the resources of $component" ;;
        lock-status) lock_status ;;
        versions)
          run aws s3api list-object-versions --bucket "${state_bucket}" --prefix "$state_key" \
            --query "Versions[?Key=='$state_key'].[VersionId,LastModified,Size,IsLatest]" --output table || finish 1 "cannot list state versions"
          finish 0 "listed the versions of s3://$state_bucket/$state_key"
          ;;
        *) finish 1 "state-inspect does not run operation $(param operation)" ;;
      esac
      ;;
    state-repair)
      case "$(param operation)" in
        unlock) force_unlock ;;
        restore)
          version=$(param version_id)
          run aws s3api get-object --bucket "${state_bucket}" --key "$state_key" --version-id "$version" "$work/restored.tfstate" || finish 1 "cannot fetch version $version"
          init
          tf state push -force "$work/restored.tfstate" || finish 1 "terraform state push of version $version failed"
          tf plan -refresh-only -input=false -no-color -detailed-exitcode; rc=$?
          [ "$rc" = 1 ] && finish 1 "restored version $version, but terraform plan -refresh-only failed"
          finish 0 "restored version $version of $component's state (refresh-only plan exit $rc)"
          ;;
        *) finish 1 "state-repair does not run operation $(param operation)" ;;
      esac
      ;;
    *) finish 1 "unknown command $command" ;;
  esac
}

main
