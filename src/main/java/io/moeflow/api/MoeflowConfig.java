package io.moeflow.api;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;
import java.util.Optional;

/**
 * Every option of the service (prefix {@code moeflow}). docs/CONFIGURATION.md lists them with their defaults;
 * keep the two in step.
 */
@ConfigMapping(prefix = "moeflow")
public interface MoeflowConfig {
    Model model();

    Engine engine();

    Experts experts();

    Limits limits();

    Chat chat();

    Kafka kafka();

    Events events();

    Shutdown shutdown();

    Http http();

    /**
     * When set, every protected route (/v1/*, /metrics, /q/* but /q/health) needs {@code Authorization: Bearer
     * <key>}. Off by default.
     */
    Optional<String> apiKey();

    interface Model {
        /** The GGUF file to serve. */
        @WithDefault("models/stories260K/stories260K.gguf")
        String path();

        /** The id /v1/models reports; defaults to the file name without .gguf. */
        Optional<String> name();

        /** Caps the context (KV positions per sequence) below the model's trained length. */
        Optional<Integer> contextLength();
    }

    interface Engine {
        /** Compute threads; 0 means one per available processor. */
        @WithDefault("0")
        int threads();

        /** Memory for the KV cache of all sequences together. */
        @WithDefault("268435456")
        long kvCacheBytes();

        /** Most tokens (prompt chunks and decode tokens together) in one forward step. */
        @WithDefault("512")
        int maxBatchTokens();

        /** Most sequences generating at once. */
        @WithDefault("16")
        int maxSequences();

        /** Most requests waiting for a free sequence; past it HTTP answers 429 and Kafka consumption pauses. */
        @WithDefault("64")
        int maxQueued();

        /**
         * Share the KV blocks of common token prefixes between requests (a system prompt, earlier turns of a chat):
         * full blocks of 16 positions are kept by content and reused instead of prefilled again; idle ones are evicted
         * least recently used first when the pool needs room.
         */
        @WithDefault("true")
        boolean prefixCache();
    }

    /**
     * How the routed experts are served (see docs/EXPERTS.md). Resident: from the memory-mapped file. Budgeted: from
     * a RAM cache of {@code cache} bytes, the rest read from disk on demand. Parsed by
     * {@link io.moeflow.experts.ExpertStoreConfig#parse}, the same parser as the command line's --expert-* flags.
     */
    interface Experts {
        /** resident or budgeted; unset: budgeted exactly when {@code cache} is set. */
        Optional<String> mode();

        /** RAM budget of the expert cache: bytes with a unit (2GiB, 512MB) or a share of the expert bytes (25%). */
        Optional<String> cache();

        /** Eviction policy of the cache: lfu (frequency with aging) or lru. */
        @WithDefault("lfu")
        String policy();

        /** Read the next layer's predicted experts ahead. */
        @WithDefault("true")
        boolean prefetch();

        /** Threads reading experts from disk. */
        @WithDefault("4")
        int ioThreads();

        /** Read with O_DIRECT where the file system allows it (bypasses the page cache, so the budget holds). */
        @WithDefault("true")
        boolean directIo();
    }

    interface Limits {
        /** Largest HTTP request body and Kafka prompt record, in bytes. */
        @WithDefault("1048576")
        int maxRequestBytes();

        /** Longest prompt (or all chat messages together), in characters, checked before tokenizing. */
        @WithDefault("262144")
        int maxPromptChars();

        /** max_tokens when a request gives none (always capped by what is left of the context). */
        @WithDefault("256")
        int defaultMaxTokens();

        /** Most stop strings in one request. */
        @WithDefault("16")
        int maxStopStrings();

        /** The Retry-After of a 429 answer. */
        @WithDefault("1")
        int retryAfterSeconds();

        /** Largest {@code n} (choices per request); each choice is one sequence of the batch. */
        @WithDefault("16")
        int maxChoices();
    }

    /** Bounds of one chat-template render (the template is the model's; the values in it are the client's). */
    interface Chat {
        /** CPU time one render may use (it is checked as the template runs). */
        @WithDefault("2s")
        Duration renderTimeout();

        /** Most characters of any string a template builds, the rendered prompt included. */
        @WithDefault("8388608")
        int maxRenderedChars();

        /** Most items of any list or dict a template builds. */
        @WithDefault("1048576")
        int maxTemplateItems();

        /** Deepest nesting of macro calls (and recursive loops) in a render. */
        @WithDefault("100")
        int maxTemplateDepth();
    }

    interface Kafka {
        /**
         * Start a single-node KRaft broker in a child JVM. Unset: on exactly when no bootstrap servers are
         * configured.
         */
        Optional<Boolean> embedded();

        /** An existing cluster to use (the service then starts no broker). */
        Optional<String> bootstrapServers();

        /** Client port of the embedded broker. */
        @WithDefault("9092")
        int port();

        /** Controller (KRaft quorum) port of the embedded broker. */
        @WithDefault("9093")
        int controllerPort();

        /** Log directory of the embedded broker; defaults to moeflow-kafka-PORT under java.io.tmpdir. */
        Optional<String> dataDir();

        /** Heap of the embedded broker's JVM. */
        @WithDefault("512m")
        String heap();

        /** How long to wait for the embedded broker, or for topic creation on an external cluster. */
        @WithDefault("90s")
        Duration startTimeout();

        /** Create the topics of kafka-topics/topics.json (idempotent) at start-up. */
        @WithDefault("true")
        boolean createTopics();

        /** Consumer group of the prompts topic. */
        @WithDefault("moeflow")
        String groupId();

        /**
         * Request ids whose events in the tokens topic are indexed (a few dozen bytes each), so that a redelivered
         * prompt resumes after its published events and a rerun of a finished id replays them.
         */
        @WithDefault("100000")
        int dedupCapacity();

        /**
         * Also write the token events of HTTP requests to the tokens topic, where every reader of the topic sees
         * them. Off: they are only served to this replica's /v1/requests/{id}/events.
         */
        @WithDefault("false")
        boolean publishHttpEvents();

        /** Prompt records prepared (parsed, rendered, tokenized) at once. */
        @WithDefault("4")
        int prepareConcurrency();

        /** Longest preparation of one prompt record; a record that takes longer goes to the dead letter topic. */
        @WithDefault("10s")
        Duration prepareTimeout();

        /** Restarts of the embedded broker tried in a row (with a growing pause) before liveness reports DOWN. */
        @WithDefault("5")
        int embeddedRestarts();

        Topics topics();
    }

    interface Topics {
        @WithDefault("moeflow.prompts")
        String prompts();

        @WithDefault("moeflow.tokens")
        String tokens();

        @WithDefault("moeflow.prompts.dlq")
        String dlq();
    }

    interface Events {
        /** How far back in the tokens topic /v1/requests/{id}/events looks when the service starts. */
        @WithDefault("5m")
        Duration lookback();

        /** Requests whose events are kept in memory for late watchers. */
        @WithDefault("1000")
        int cacheRequests();

        /** Estimated heap the cached events may take, whatever is being watched. */
        @WithDefault("67108864")
        long cacheBytes();

        /** A watcher of an id with no event yet is ended with an "unknown request" event after this long. */
        @WithDefault("60s")
        Duration unknownTimeout();

        /** Interval of SSE keep-alive comments while a watched request has no events. */
        @WithDefault("15s")
        Duration keepAlive();
    }

    /** The HTTP edge: who may call, and how long a client may take to send its request. */
    interface Http {
        /**
         * Bearer key for /metrics and /q/metrics. Unset: the API key guards them (and they are open without one).
         */
        Optional<String> metricsKey();

        /**
         * Start even though the service listens beyond the loopback interface without an API key. Without it such a
         * start is refused, so that a service is never open to the network by accident.
         */
        @WithDefault("false")
        boolean allowRemoteWithoutKey();

        /** From a connection's opening (or the end of its previous response) to the end of the request headers. */
        @WithDefault("30s")
        Duration headerTimeout();

        /** From the end of the request headers to the end of the body. */
        @WithDefault("60s")
        Duration bodyTimeout();

        Cors cors();
    }

    interface Cors {
        /**
         * Origins (scheme://host[:port], or *) whose pages may call the service from a browser. Empty: CORS is off
         * and only same-origin pages (the playground) may send requests that carry an Origin header.
         */
        Optional<java.util.List<String>> origins();

        /** How long a browser may cache a preflight answer. */
        @WithDefault("10m")
        Duration maxAge();
    }

    /** Which kernels compute (read by {@code KernelPathCheck} at start-up and handed to {@code Kernels.select}). */
    Kernels kernels();

    interface Kernels {
        /** Force the scalar kernels (the path a native image without vector support takes); off: Vector API where it works. */
        @WithDefault("false")
        boolean scalar();
    }

    interface Shutdown {
        /**
         * On shutdown (SIGTERM), how long in-flight generations may run on to finish; the ones still running then
         * are cancelled and their Kafka prompts left uncommitted, so another replica generates them again.
         * Kubernetes' terminationGracePeriodSeconds must exceed it (see k8s/base/deployment.yaml).
         */
        @WithDefault("30s")
        Duration grace();
    }
}
