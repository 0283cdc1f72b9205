#!/usr/bin/env bash
# Regenerates the expected splits and token ids in this directory from llama.cpp itself (see README.md).
# usage: generate.sh LLAMA_CPP_SOURCE_TREE LLAMA_CPP_LIB_DIR SHARED_DIR
# The source tree must be llama.cpp 34af94cd9ab277632e27caeec2d41de2fd091b31; LIB_DIR holds its libllama.so.
set -euo pipefail
SRC=$1; LIB=$2; SHARED=$3
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# split: llama.cpp's own unicode_regex_split with the regex list of llm_tokenizer_bpe's constructor, taken
# verbatim from src/llama-vocab.cpp (the switch over the pre-tokenizer type), for one type given by number.
{
cat <<'EOF'
#include "llama-vocab.h"
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
std::vector<std::string> unicode_regex_split(const std::string & text, const std::vector<std::string> & regex_exprs, bool byte_encode);
std::vector<uint32_t> unicode_cpts_from_utf8(const std::string & utf8);
struct regexes {
    std::vector<std::string> regex_exprs;
    bool byte_encode = true;
    regexes(llama_vocab_pre_type pre) {
        switch (pre) {
EOF
awk '/llm_tokenizer_bpe\(const llama_vocab & vocab\) \{/{f=1} f&&/switch \(vocab.get_pre_type\(\)\) \{/{g=1; next}
     g&&/^    std::vector<std::string> regex_exprs;/{exit} g{print}' "$SRC/src/llama-vocab.cpp"
cat <<'EOF'
};
static std::vector<std::string> inputs(const char * path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss; ss << f.rdbuf();
    std::string all = ss.str();
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> out;
    size_t pos = 0;
    for (size_t s = all.find(sep); s != std::string::npos; s = all.find(sep, pos)) {
        out.push_back(all.substr(pos, s - pos));
        pos = s + sep.size();
    }
    return out;
}
// one line per input: the lengths of the pieces in code points
int main(int argc, char ** argv) {
    regexes r((llama_vocab_pre_type) atoi(argv[1]));
    for (const auto & text : inputs(argv[2])) {
        std::vector<std::string> words;
        if (!text.empty()) words = unicode_regex_split(text, r.regex_exprs, false);
        for (size_t i = 0; i < words.size(); i++) printf(i ? " %zu" : "%zu", unicode_cpts_from_utf8(words[i]).size());
        printf("\n");
    }
}
EOF
} > "$WORK/split.cpp"

# tok: llama_tokenize(add_special = false, parse_special = false) on a vocab-only load with tokenizer.ggml.pre
# overridden (a kv override, as llama.cpp's --override-kv), one line of ids per input.
cat > "$WORK/tok.cpp" <<'EOF'
#include "llama.h"
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
int main(int argc, char ** argv) {
    llama_backend_init();
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    llama_model_kv_override ov[2];
    memset(ov, 0, sizeof(ov));
    strcpy(ov[0].key, "tokenizer.ggml.pre");
    ov[0].tag = LLAMA_KV_OVERRIDE_TYPE_STR;
    strcpy(ov[0].val_str, argv[2]);
    llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    mp.kv_overrides = ov;
    llama_model * m = llama_model_load_from_file(argv[1], mp);
    if (!m) { fprintf(stderr, "load failed\n"); return 1; }
    const llama_vocab * v = llama_model_get_vocab(m);
    std::ifstream f(argv[3], std::ios::binary);
    std::stringstream ss; ss << f.rdbuf();
    std::string all = ss.str();
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<llama_token> ids(1 << 20);
    size_t pos = 0;
    for (size_t s = all.find(sep); s != std::string::npos; s = all.find(sep, pos)) {
        std::string text = all.substr(pos, s - pos);
        pos = s + sep.size();
        int n = llama_tokenize(v, text.data(), text.size(), ids.data(), ids.size(), false, false);
        if (n < 0) { fprintf(stderr, "tokenize failed\n"); return 1; }
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
    }
}
EOF
# detok: llama_detokenize(remove_special = false, unparse_special = false) of llama_tokenize's ids, for the
# clean_spaces check in LlamaCppPreTokenizerVectorsTest.decodesLikeLlamaCpp (printed, not written to a file).
cat > "$WORK/detok.cpp" <<'EOF'
#include "llama.h"
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>
int main(int argc, char ** argv) {
    llama_backend_init();
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    llama_model_kv_override ov[2];
    memset(ov, 0, sizeof(ov));
    strcpy(ov[0].key, "tokenizer.ggml.pre");
    ov[0].tag = LLAMA_KV_OVERRIDE_TYPE_STR;
    strcpy(ov[0].val_str, argv[2]);
    llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    mp.kv_overrides = ov;
    llama_model * m = llama_model_load_from_file(argv[1], mp);
    const llama_vocab * v = llama_model_get_vocab(m);
    std::string text = argv[3];
    std::vector<llama_token> ids(4096);
    int n = llama_tokenize(v, text.data(), text.size(), ids.data(), ids.size(), false, false);
    std::vector<char> buf(65536);
    int k = llama_detokenize(v, ids.data(), n, buf.data(), buf.size(), false, false);
    printf("%s\t%.*s\n", argv[2], k, buf.data());
}
EOF
g++ -O1 -std=c++17 -I"$SRC/include" -I"$SRC/ggml/include" "$WORK/detok.cpp" -L"$LIB" -lllama -lggml -lggml-base \
    -Wl,-rpath,"$LIB" -o "$WORK/detok"
g++ -O1 -std=c++17 -I"$SRC/src" -I"$SRC/include" -I"$SRC/ggml/include" "$WORK/split.cpp" -L"$LIB" -lllama \
    -Wl,-rpath,"$LIB" -o "$WORK/split"
g++ -O1 -std=c++17 -I"$SRC/include" -I"$SRC/ggml/include" "$WORK/tok.cpp" -L"$LIB" -lllama -lggml -lggml-base \
    -Wl,-rpath,"$LIB" -o "$WORK/tok"

# tokenizer.ggml.pre -> LLAMA_VOCAB_PRE_TYPE_* number (src/llama-vocab.h, mapping in llama_vocab::impl::load)
declare -A TYPE=([default]=0 [llama-bpe]=1 [lfm2]=1 [deepseek-llm]=2 [deepseek-coder]=3 [falcon]=4 [mpt]=5
    [starcoder]=6 [gpt-2]=7 [gigachat]=7 [refact]=8 [command-r]=9 [stablelm2]=10 [qwen2]=11 [olmo]=12 [dbrx]=13
    [smaug-bpe]=14 [glm4]=17 [tekken]=20 [smollm]=21 [codeshell]=22 [exaone]=25 [minerva-7b]=27 [deepseek-v3]=28
    [gpt-4o]=29 [kanana2]=29 [bailingmoe]=32 [bailingmoe2]=32 [llama4]=29 [hunyuan]=36 [kimi-k2]=37 [grok-2]=39
    [minimax-m2]=41 [afmoe]=42 [exaone-moe]=45 [qwen35]=46 [cohere2moe]=47)
NEW="kimi-k2 glm4 gigachat kanana2 tekken minimax-m2 qwen35 hunyuan bailingmoe bailingmoe2 grok-2 afmoe exaone-moe lfm2 cohere2moe"
STD=$SHARED/tokenizer/ggml-vocab-gpt-2.gguf.inp
CORPUS=$SHARED/tokenizer/real-moe/extra-corpus/corpus.inp
mkdir -p "$HERE/splits" "$HERE/ids"
for pre in "${!TYPE[@]}"; do
    "$WORK/split" "${TYPE[$pre]}" "$HERE/chosen.inp" > "$HERE/splits/$pre.chosen.out"
    "$WORK/split" "${TYPE[$pre]}" "$STD" > "$HERE/splits/$pre.std.out"
    "$WORK/split" "${TYPE[$pre]}" "$CORPUS" | gzip -9n > "$HERE/splits/$pre.corpus.out.gz"
done
for pre in $NEW; do
    for vocab in qwen2 deepseek-v3 gpt-4o; do
        gguf=$SHARED/tokenizer/real-moe/ggml-vocab-$vocab.gguf
        "$WORK/tok" "$gguf" "$pre" "$HERE/chosen.inp" > "$HERE/ids/$pre.$vocab.chosen.out"
        "$WORK/tok" "$gguf" "$pre" "$STD" > "$HERE/ids/$pre.$vocab.std.out"
    done
done
for pre in $NEW; do
    "$WORK/detok" "$SHARED/tokenizer/real-moe/ggml-vocab-qwen2.gguf" "$pre" "Hello , world ! It 's a test . Isn 't it ? x n't"
done
