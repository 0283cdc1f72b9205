import sys
# Chosen inputs for the pre-tokenizer vectors: each stresses one branch of the regexes.
inputs = [
    "1", "12", "123", "1234", "12345", "123456", "1234567", "1,234,567.89", "x1 y22 z333 w4444",
    "3.14159 2026-12-03 0x1F", "abc123def4567", "١٢٣٤ ²³ ½ Ⅻ", "５６７８",
    "I'm you're we've he'll she'd it's can't", "I'M YOU'RE WE'VE HE'LL SHE'D IT'S", "'s 'S 'll 'Ll x'x '",
    "HelloWorld CamelCase iPhone McDonald XMLHttpRequest ABCdef", "naïve café résumé", "e\u0301 a\u0308b \u0301x",
    "...!!! ??? --- *** ;;; \"quoted\" (paren) [br] {cu} <a/>", " .", "a.b,c;d:e!f?g", "/path/to/file.txt // comment",
    "\n", "\n\n", "\n\n\n", " \n", "\n \n", "a\nb", "a\r\nb\r\n\r\nc", "\t", "\t\t", "a\tb\t\tc", " ", "  ", "   x",
    "x   ", "x  \n  y", "trailing space ", "  leading", "\u00a0nbsp\u00a0 \u2003em\u3000ideo",
    "中文测试", "你好，世界！", "我的名字是小明。", "日本語のテキスト、カタカナ", "한국어 텍스트입니다", "ภาษาไทย ខ្មែរ ລາວ",
    "汉字abc汉字", "abc汉字def", " 汉字", "中1文22字333", "𠀀𠀁 𪜀", "豈 更",
    "emoji 🙂😀 👍🏽 👨‍👩‍👧 🇫🇷", "🙂x", "x🙂", "Привет мир", "Γειά σου Κόσμε", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
    "mixed: English, 中文, русский, 日本語 and 123.", "<|im_start|>user\nhi<|im_end|>", "def f(x):\n    return x ** 2\n",
    "    indented\n        more", "$100 +5% =x^2 ~y |z| `c`", "@user #tag &amp; a_b", "ǅungla ǈ Ǳ", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "'''\"\"\"", "a'b", "don't't", "  \t\n\t  ",
]
sep = "\n__ggml_vocab_test__\n"
with open(sys.argv[1] if len(sys.argv) > 1 else "chosen.inp", "w", encoding="utf-8", newline="") as f:
    for s in inputs:
        f.write(s + sep)
print(len(inputs))
