#!/usr/bin/env bash
# Deploys the migration stack to a real AWS account: builds the four functions for Lambda
# (arm64, release, zip), uploads each package to the artifacts bucket under a key made of
# its content hash (so CloudFormation sees new code as a change), then creates or updates
# the stack from template.json with the parameters of a KEY=VALUE file.
#
#   scripts/deploy.sh --stack NAME --bucket ARTIFACTS_BUCKET --parameters FILE
#                     [--region REGION] [--lambda-dir DIR] [--skip-build] [--dry-run]
#
# FILE holds one Key=Value a line (blank lines and lines starting with # are ignored), for
# example PeerVpcId=vpc-0abc..., CertificateArn=arn:aws:acm:..., HostedZoneName=... ; the
# script adds ArtifactsBucket and the four code keys itself. Credentials and region come
# from the usual AWS CLI settings (AWS_PROFILE, AWS_REGION, ...). --dry-run prints the
# upload and deploy commands instead of running them.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
functions=(replication-validator weight-shifter compliance-remediator backup-verifier)
# The template parameter that carries each function's code key, in the order above.
key_parameters=(ReplicationValidatorCodeKey WeightShifterCodeKey ComplianceRemediatorCodeKey
  BackupVerifierCodeKey)

die() { printf 'deploy: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'deploy: %s\n' "$*" >&2; }
usage() {
  cat >&2 <<'EOF'
usage: scripts/deploy.sh --stack NAME --bucket ARTIFACTS_BUCKET --parameters FILE
                         [--region REGION] [--lambda-dir DIR] [--skip-build] [--dry-run]

  --stack NAME          CloudFormation stack to create or update
  --bucket BUCKET       existing S3 bucket for the function packages and the template
  --parameters FILE     template parameters, one Key=Value a line (# comments allowed)
  --region REGION       AWS region (default: the AWS CLI's configured region)
  --lambda-dir DIR      where the packages are built (default: target/lambda)
  --skip-build          upload the packages already in the lambda directory
  --dry-run             print the upload and deploy commands instead of running them
EOF
  exit 2
}

stack="" bucket="" params_file="" region="" build=1 dry_run=0
lambda_dir="$root/target/lambda"
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) [ $# -ge 2 ] || usage; stack=$2; shift 2 ;;
    --bucket) [ $# -ge 2 ] || usage; bucket=$2; shift 2 ;;
    --parameters) [ $# -ge 2 ] || usage; params_file=$2; shift 2 ;;
    --region) [ $# -ge 2 ] || usage; region=$2; shift 2 ;;
    --lambda-dir) [ $# -ge 2 ] || usage; lambda_dir=$2; shift 2 ;;
    --skip-build) build=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage ;;
    *) printf 'deploy: error: unknown argument %s\n' "$1" >&2; usage ;;
  esac
done
[ -n "$stack" ] && [ -n "$bucket" ] && [ -n "$params_file" ] || usage
[ -f "$params_file" ] || die "parameters file $params_file does not exist"
[[ "$stack" =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] || die "stack name $stack is not a valid stack name"

overrides=()
while IFS= read -r line || [ -n "$line" ]; do
  line=${line%$'\r'}
  [[ -z "${line//[[:space:]]/}" || "$line" =~ ^[[:space:]]*# ]] && continue
  [[ "$line" =~ ^[A-Za-z0-9]+=.*$ ]] || die "$params_file: not a Key=Value line: ${line%%=*}"
  case "${line%%=*}" in
    ArtifactsBucket|*CodeKey) die "$params_file: ${line%%=*} is set by this script" ;;
  esac
  overrides+=("$line")
done <"$params_file"

run() {
  if [ "$dry_run" = 1 ]; then printf '%q ' "$@"; printf '\n'; else "$@"; fi
}

aws_args=()
[ -n "$region" ] && aws_args+=(--region "$region")
if [ "$dry_run" = 0 ]; then
  command -v aws >/dev/null || die "the AWS CLI (aws) is missing"
fi

if [ "$build" = 1 ]; then
  command -v cargo >/dev/null || die "cargo is missing; install Rust with rustup"
  cargo lambda --version >/dev/null 2>&1 \
    || die "cargo-lambda is missing; pip install cargo-lambda (scripts/requirements.txt pins it)"
  # Each function's Lambda binary carries its package's name; other binaries (the
  # validator's command-line tool) are not deployed, so they are not built.
  binaries=()
  for f in "${functions[@]}"; do binaries+=(--package "$f" --bin "$f"); done
  say "building ${functions[*]} for arm64"
  (cd "$root" && cargo lambda build --release --arm64 --output-format zip \
    --lambda-dir "$lambda_dir" "${binaries[@]}")
fi

for i in "${!functions[@]}"; do
  f=${functions[$i]}
  zip="$lambda_dir/$f/bootstrap.zip"
  [ -f "$zip" ] || die "$zip is missing; build without --skip-build"
  hash=$(sha256sum "$zip" | cut -c1-16)
  key="$stack/$f/$hash.zip"
  say "uploading $f as s3://$bucket/$key"
  run aws "${aws_args[@]}" s3 cp --only-show-errors "$zip" "s3://$bucket/$key"
  overrides+=("${key_parameters[$i]}=$key")
done
overrides+=("ArtifactsBucket=$bucket")

say "deploying stack $stack"
# The template is larger than the 51,200 bytes CloudFormation takes inline, so it travels
# through the same bucket.
run aws "${aws_args[@]}" cloudformation deploy \
  --template-file "$root/template.json" \
  --stack-name "$stack" \
  --s3-bucket "$bucket" --s3-prefix "$stack/templates" \
  --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM \
  --no-fail-on-empty-changeset \
  --parameter-overrides "${overrides[@]}"

run aws "${aws_args[@]}" cloudformation describe-stacks --stack-name "$stack" \
  --query 'Stacks[0].Outputs' --output table
