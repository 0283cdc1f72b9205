package io.moeflow.api;

import io.moeflow.engine.Detokenizer;
import io.moeflow.experts.ExpertStore;
import io.moeflow.experts.ExpertStoreConfig;
import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.Models;
import io.moeflow.scheduler.BatchScheduler;
import io.moeflow.scheduler.GenerationEngine;
import io.moeflow.scheduler.SchedulerConfig;
import io.moeflow.tokenizer.Tokenizer;
import io.moeflow.tokenizer.Vocabulary;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * Loads the GGUF of {@code moeflow.model.path} in the background at start-up (the service answers 503 meanwhile)
 * and runs it behind a {@link BatchScheduler}.
 */
@ApplicationScoped
public class GgufModelRuntime implements ModelRuntime {
    private static final Logger LOG = Logger.getLogger(GgufModelRuntime.class);

    /** The moeflow.experts.* properties, as errors about them name them. */
    public static final ExpertStoreConfig.OptionNames EXPERT_PROPERTIES = new ExpertStoreConfig.OptionNames(
            "moeflow.experts.mode", "moeflow.experts.cache", "moeflow.experts.policy", "moeflow.experts.io-threads", "=");

    @Inject
    MoeflowConfig config;

    private ExpertStoreConfig experts;
    private volatile State state = State.LOADING;
    private volatile String failure;
    private WorkerPool pool;
    private DecoderModel model;
    private Tokenizer tokenizer;
    private BatchScheduler scheduler;
    private int contextLength;
    private String bosText = "";
    private String eosText = "";

    void onStart(@Observes StartupEvent event) {
        // Checked before the background load, so a bad value stops the start-up with a message naming the property.
        experts = expertStoreConfig(config.experts());
        Thread.ofPlatform().name("moeflow-model-loader").start(this::load);
    }

    void onStop(@Observes ShutdownEvent event) {
        if (scheduler != null) scheduler.close();
        if (model != null) model.close();
        if (pool != null) pool.close();
    }

    /** Loads the model; the first call does the work, later calls wait for it. */
    synchronized void load() {
        if (state != State.LOADING) return;
        Path path = Path.of(config.model().path());
        long start = System.nanoTime();
        try {
            if (!Files.isRegularFile(path)) {
                throw new IllegalArgumentException("model file " + path.toAbsolutePath() + " does not exist (set moeflow.model.path)");
            }
            int threads = config.engine().threads() > 0 ? config.engine().threads() : Runtime.getRuntime().availableProcessors();
            if (experts == null) experts = expertStoreConfig(config.experts());
            pool = new WorkerPool(threads);
            GgufFile file = GgufFile.open(path);
            Vocabulary vocabulary;
            try {
                vocabulary = Vocabulary.fromGguf(file);
                model = Models.load(file, pool, experts);
            } catch (RuntimeException e) {
                file.close();
                throw e;
            }
            tokenizer = Tokenizer.of(vocabulary);
            bosText = tokenText(tokenizer.bos());
            eosText = tokenText(tokenizer.eos());
            contextLength = Math.min(model.info().contextLength(), config.model().contextLength().orElse(Integer.MAX_VALUE));
            scheduler = new BatchScheduler(model, Detokenizer.of(tokenizer), schedulerConfig(config.engine()));
            logExperts();
            state = State.READY;
            LOG.infof("model %s loaded from %s in %d ms: %s, context %d, %d threads", modelName(), path,
                    (System.nanoTime() - start) / 1_000_000, model.info().architecture(), contextLength, threads);
        } catch (RuntimeException | Error e) {
            failure = e.getMessage() == null ? e.toString() : e.getMessage();
            state = State.FAILED;
            LOG.errorf(e, "loading the model %s failed", path);
        }
    }

    /** The expert store configuration of moeflow.experts.*; a bad value throws a message naming its property. */
    public static ExpertStoreConfig expertStoreConfig(MoeflowConfig.Experts e) {
        return ExpertStoreConfig.parse(e.mode().orElse(null), e.cache().orElse(null), e.policy(), e.prefetch(),
                e.ioThreads(), e.directIo(), EXPERT_PROPERTIES);
    }

    /** One key=value line: how the routed experts are served and, when budgeted, the cache's size and slots. */
    private void logExperts() {
        ExpertStore store = model.expertStore();
        if (store == null) {
            LOG.infof("experts: mode=resident%s", experts.mode() == ExpertStoreConfig.Mode.BUDGETED
                    ? " reason=no-routed-experts requested_cache=" + experts.budget() : "");
            return;
        }
        LOG.infof("experts: mode=budgeted cache=%s budget_bytes=%d slots=%d slot_bytes=%d allocated_bytes=%d expert_bytes=%d"
                        + " policy=%s prefetch=%b io_threads=%d direct_io=%b",
                experts.budget(), store.budgetBytes(), store.slots(), store.slotBytes(), store.allocatedBytes(),
                store.totalExpertBytes(), experts.policy().name().toLowerCase(Locale.ROOT), experts.prefetch(),
                experts.ioThreads(), store.directIo());
    }

    private String tokenText(int id) {
        return id < 0 ? "" : new String(tokenizer.pieceBytes(id), StandardCharsets.UTF_8);
    }

    /** The loaded model (its {@link DecoderModel#expertStore()} for metrics and tests); null until loaded. */
    public DecoderModel model() {
        return state == State.READY ? model : null;
    }

    /** The batch scheduler's settings from {@code moeflow.engine.*}. */
    public static SchedulerConfig schedulerConfig(MoeflowConfig.Engine engine) {
        return new SchedulerConfig(engine.kvCacheBytes(), engine.maxBatchTokens(), engine.maxSequences(), engine.maxQueued(),
                engine.prefixCache());
    }

    /** The scheduler, for metrics; null until loaded. */
    public BatchScheduler scheduler() {
        return scheduler;
    }

    @Override
    public State state() {
        return state;
    }

    @Override
    public Optional<String> failure() {
        return Optional.ofNullable(failure);
    }

    /** moeflow.model.name, else the file name without .gguf. */
    @Override
    public String modelName() {
        String file = Path.of(config.model().path()).getFileName().toString();
        return config.model().name().orElse(file.endsWith(".gguf") ? file.substring(0, file.length() - 5) : file);
    }

    @Override
    public int contextLength() {
        return contextLength;
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        return tokenizer.encode(text, addSpecial, parseSpecial);
    }

    @Override
    public Optional<String> chatTemplate() {
        return Optional.ofNullable(tokenizer.vocabulary().chatTemplate()).filter(t -> !t.isBlank());
    }

    @Override
    public String bosText() {
        return bosText;
    }

    @Override
    public String eosText() {
        return eosText;
    }

    @Override
    public Tokenizer tokenizer() {
        if (state != State.READY) throw new ServiceUnavailableException("Loading model");
        return tokenizer;
    }

    @Override
    public GenerationEngine engine() {
        if (state != State.READY) throw new ServiceUnavailableException("Loading model");
        return scheduler;
    }
}
