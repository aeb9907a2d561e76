#!/bin/bash
# Checks GGUF files made by `ponder convert` against a llama.cpp build (by hand; not in CTest,
# which must not need llama.cpp):
#   - random Hugging Face folders (llama and qwen2, several dtypes) are converted with
#     `ponder convert`, served with llama-server, and llama.cpp's greedy continuation of a fixed
#     prompt is compared with `ponder generate` on the converted file and on the folder itself;
#   - the tokenizer: llama-server's /tokenize of a few texts against `ponder tokenize` on the
#     folder;
#   - with --real-gguf FILE (a GGUF with a gpt2 vocabulary, such as llama.cpp's converter makes):
#     FILE is converted to a Hugging Face folder and back, and llama-server's greedy continuation
#     of a text prompt on the round-tripped file must equal its continuation on FILE.
#
#   tests/engine/convert/check_with_llama_cpp.sh --llama-server /path/to/llama-server \
#       [--build build] [--real-gguf model.gguf] [--work DIR]
#
# Prints one line per check and exits non-zero if any failed. Needs curl and jq.
set -euo pipefail

llama_server="" build="build" real_gguf="" work=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --llama-server) llama_server="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --real-gguf) real_gguf="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$llama_server" || ! -x "$llama_server" ]]; then
  echo "usage: $0 --llama-server PATH [--build DIR] [--real-gguf FILE] [--work DIR]" >&2
  exit 2
fi
ponder="$build/bin/ponder"
random_model="$build/bin/random_model"
for tool in "$ponder" "$random_model"; do
  [[ -x "$tool" ]] || { echo "$tool is not built" >&2; exit 2; }
done
if [[ -z "$work" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

failures=0
server_pid=""
port=$((20000 + RANDOM % 20000))

start_server() {  # $1: model file
  "$llama_server" -m "$1" --host 127.0.0.1 --port "$port" -c 512 -t 2 -np 1 --no-warmup \
    >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "llama-server failed to load $1:" >&2
      tail -5 "$work/server.log" >&2
      server_pid=""
      return 1
    fi
    if curl -sf "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"ok"'; then return 0; fi
    sleep 0.2
  done
  return 1
}

stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}

# Greedy continuation from llama-server: $1 is the JSON prompt (a token array or a string).
llama_greedy() {
  curl -sf "http://127.0.0.1:$port/completion" -H 'Content-Type: application/json' -d \
    "{\"prompt\": $1, \"n_predict\": $2, \"temperature\": 0, \"cache_prompt\": false,
      \"ignore_eos\": true, \"return_tokens\": true}" | jq -c '.tokens'
}

ponder_greedy() {  # $1: model, $2: comma-separated prompt ids, $3: tokens; prints the JSON line
  "$ponder" generate --model "$1" --prompt-tokens "$2" --max-tokens "$3" --temperature 0 \
    --ignore-eos --threads 2 --top-logprobs 5
}

report() {  # $1: name, $2: expected, $3: actual
  if [[ "$2" == "$3" ]]; then
    echo "PASS $1"
  else
    echo "FAIL $1"
    echo "     llama.cpp: $2"
    echo "     ponder:    $3"
    failures=$((failures + 1))
  fi
}

# Greedy tokens of llama.cpp ($2, a JSON array) against `ponder generate`'s line ($3). Two
# differences are not the converter's: llama-server leaves out trailing tokens that end inside a
# UTF-8 character (so its list may be a prefix of ours), and a near-tie (ours within 0.02 nats
# of llama.cpp's choice) can flip where llama.cpp rounds activations to f16/bf16 and we do not;
# after a flip the continuations part, so only the first difference is judged.
report_greedy() {
  local verdict
  verdict=$(jq -n -r --argjson l "$2" --argjson p "$3" '
    $p.tokens as $o
    | ([range(0; [($l | length), ($o | length)] | min) | select($l[.] != $o[.])] | first) as $k
    | if $k == null then
        if ($l | length) == ($o | length) then "same"
        elif ($l | length) < ($o | length) and ($o | length) - ($l | length) <= 3 then "prefix"
        else "different lengths" end
      else
        ($p.top_logprobs[$k] | map(select(.token == $l[$k])) | first) as $alt
        | if $alt != null and $p.logprobs[$k] - $alt.logprob < 0.02
          then "near-tie at token \($k) (\($p.logprobs[$k] - $alt.logprob) nats)"
          else "diverge at token \($k)" end
      end')
  case "$verdict" in
    same) echo "PASS $1" ;;
    prefix) echo "PASS $1 (llama-server withheld trailing tokens of an incomplete character)" ;;
    near-tie*) echo "PASS $1 ($verdict; identical before it)" ;;
    *)
      echo "FAIL $1: $verdict"
      echo "     llama.cpp: $2"
      echo "     ponder:    $(jq -c '.tokens' <<<"$3")"
      failures=$((failures + 1))
      ;;
  esac
}

trap 'stop_server' ERR
prompt="5,17,99,3,250,64,7,130,42,8,311,200"
texts=("Janet has 16 eggs. She eats 3 for breakfast." "<|im_start|>user
What is 2+2?<|im_end|>" "  leading spaces, numbers 1234567 and ünïcödé")
for arch in llama qwen2; do
  folder="$work/$arch-hf"
  "$random_model" --format hf --arch "$arch" --dtype f32 --seed 11 --out "$folder"
  from_folder=$(ponder_greedy "$folder" "$prompt" 24)
  for dtype in f32 f16 bf16 q8_0 q4_0; do
    gguf="$work/$arch-$dtype.gguf"
    "$ponder" convert --input "$folder" --output "$gguf" --dtype "$dtype" >/dev/null
    if ! start_server "$gguf"; then
      echo "FAIL $arch $dtype: llama-server does not load the converted file"
      failures=$((failures + 1))
      continue
    fi
    llama=$(llama_greedy "[$prompt]" 24)
    report_greedy "$arch $dtype: greedy tokens, llama.cpp vs ponder on the converted file" \
      "$llama" "$(ponder_greedy "$gguf" "$prompt" 24)"
    if [[ "$dtype" == "f32" ]]; then
      report_greedy "$arch $dtype: greedy tokens, llama.cpp vs ponder on the Hugging Face folder" \
        "$llama" "$from_folder"
      for text in "${texts[@]}"; do
        ids=$(curl -sf "http://127.0.0.1:$port/tokenize" -H 'Content-Type: application/json' \
          -d "$(jq -n --arg t "$text" '{content: $t, add_special: false, parse_special: true}')" |
          jq -c '.tokens')
        ours=$("$ponder" tokenize --model "$folder" --text "$text" --json --no-bos --parse-special |
          jq -c '.')
        report "$arch: token ids of '${text:0:24}...', llama.cpp on the GGUF vs ponder on the folder" \
          "$ids" "$ours"
      done
    fi
    stop_server
  done
done

if [[ -n "$real_gguf" ]]; then
  "$ponder" convert --input "$real_gguf" --output "$work/real-hf"
  "$ponder" convert --input "$work/real-hf" --output "$work/real-roundtrip.gguf"
  text='"The capital of France is"'
  start_server "$real_gguf"
  original=$(llama_greedy "$text" 32)
  stop_server
  start_server "$work/real-roundtrip.gguf"
  roundtrip=$(llama_greedy "$text" 32)
  stop_server
  report "$(basename "$real_gguf") -> Hugging Face -> GGUF: llama.cpp greedy tokens unchanged" \
    "$original" "$roundtrip"
fi

echo "$failures failure(s)"
[[ $failures -eq 0 ]]
