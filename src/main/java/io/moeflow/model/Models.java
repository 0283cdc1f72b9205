package io.moeflow.model;

import io.moeflow.experts.ExpertStoreConfig;
import io.moeflow.gguf.Architectures;
import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.arch.BailingMoe2Model;
import io.moeflow.model.arch.DeepSeek2Model;
import io.moeflow.model.arch.Dots1Model;
import io.moeflow.model.arch.Ernie45MoeModel;
import io.moeflow.model.arch.Glm4MoeModel;
import io.moeflow.model.arch.GptOssModel;
import io.moeflow.model.arch.GraniteMoeModel;
import io.moeflow.model.arch.HunyuanMoeModel;
import io.moeflow.model.arch.Llama4Model;
import io.moeflow.model.arch.LlamaModel;
import io.moeflow.model.arch.OlmoeModel;
import io.moeflow.model.arch.Qwen2MoeModel;
import io.moeflow.model.arch.Qwen3MoeModel;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiFunction;

/** Picks the architecture class named by {@code general.architecture}. */
public final class Models {
    private Models() {}

    private static final Map<String, BiFunction<GgufFile, WorkerPool, DecoderModel>> ARCHITECTURES = new TreeMap<>(Map.ofEntries(
            Map.entry("llama", LlamaModel::new),
            Map.entry("qwen3moe", Qwen3MoeModel::new),
            Map.entry("qwen2moe", Qwen2MoeModel::new),
            Map.entry("olmoe", OlmoeModel::new),
            Map.entry("deepseek2", DeepSeek2Model::new),
            Map.entry("gpt-oss", GptOssModel::new),
            Map.entry("glm4moe", Glm4MoeModel::new),
            Map.entry("dots1", Dots1Model::new),
            Map.entry("ernie4_5-moe", Ernie45MoeModel::new),
            Map.entry("bailingmoe2", BailingMoe2Model::new),
            Map.entry("hunyuan-moe", HunyuanMoeModel::new),
            Map.entry("granitemoe", GraniteMoeModel::new),
            Map.entry("llama4", Llama4Model::new)));

    public static java.util.Set<String> supported() {
        return ARCHITECTURES.keySet();
    }

    /** Opens and maps the file and builds its model; the model owns (and closes) the file. */
    public static DecoderModel load(Path path, WorkerPool pool) {
        GgufFile f = GgufFile.open(path);
        try {
            return load(f, pool);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /** As {@link #load(Path, WorkerPool)}, serving the routed experts as {@code experts} says (resident or budgeted). */
    public static DecoderModel load(Path path, WorkerPool pool, ExpertStoreConfig experts) {
        DecoderModel m = load(path, pool);
        try {
            m.attachExpertStore(experts);
            return m;
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /**
     * As {@link #load(GgufFile, WorkerPool)}, serving the routed experts as {@code experts} says; when the expert
     * store cannot be built the file stays open (it is the caller's).
     */
    public static DecoderModel load(GgufFile f, WorkerPool pool, ExpertStoreConfig experts) {
        DecoderModel m = load(f, pool);
        m.attachExpertStore(experts);
        return m;
    }

    public static DecoderModel load(GgufFile f, WorkerPool pool) {
        String arch = f.architecture();
        var ctor = ARCHITECTURES.get(arch);
        if (ctor == null)
            throw new IllegalArgumentException(f.path() + ": " + Architectures.refusal(arch).orElse("architecture '" + arch + "' is not supported"));
        f.unsupportedTensorTypes().ifPresent(why -> {
            throw new IllegalArgumentException(f.path() + ": " + why);
        });
        return ctor.apply(f, pool);
    }
}
