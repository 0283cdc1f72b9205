package io.moeflow.scheduler;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.Sampler;
import io.moeflow.engine.Sequence;
import io.moeflow.engine.TokenConstraint;
import io.moeflow.experts.ExpertReadException;
import io.moeflow.model.ForwardBatch;
import io.moeflow.model.KvCache;
import io.moeflow.model.Model;
import io.moeflow.model.ModelInfo;
import io.moeflow.model.StepStats;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching over one model: a single step-loop thread runs forward steps over all running
 * sequences together. Each step feeds the next token of every decoding sequence, then chunks of pending
 * prompts up to {@link SchedulerConfig#maxBatchTokens()} (chunked prefill: a long prompt never stalls the
 * running streams); a sequence's first token comes from the step that feeds the end of its prompt. Sequences
 * join and leave between steps.
 *
 * <p>KV memory is one pool of blocks ({@link SchedulerConfig#kvCacheBytes()} ÷ the model's block size).
 * Admission is first come, first served: the head of the queue waits until the pool has blocks for its whole
 * prompt plus a small headroom (1 % of the pool, at least one block), and those blocks are reserved at once, so
 * prefill never runs out. A running sequence that needs a block for its next token when the pool is empty
 * preempts the newest running sequence (maybe itself): the victim's blocks are freed and it goes back to the
 * front of the queue with its generated tokens as part of its prompt, keeping its sampler state, so its
 * output does not change; it is recomputed when blocks are free again. A sequence alone in the pool that still
 * cannot grow ends with LENGTH.
 *
 * <p>Prefix caching ({@link SchedulerConfig#prefixCache()}, unless the model opts out with
 * {@link Model#kvIsFunctionOfPrefix()}): every full block of 16 positions a sequence has computed (prompt or
 * generated tokens) is kept in the pool under the key of its token prefix ({@link KvCache}); a sequence being
 * admitted takes the longest cached run of full blocks its tokens begin with, shared with whoever else uses them,
 * and prefill starts after it. At least its last token is always fed, so its first token has logits. Cached blocks
 * nobody uses count as free: they are evicted, least recently released first, only when the free list is empty.
 * A preempted sequence finds its own blocks again this way if they were not evicted meanwhile. The head of the queue
 * waits while a running sequence is still feeding the next block of its prefix (see {@link #anotherIsComputing}),
 * so requests arriving together with the same system prompt compute it once.
 *
 * <p>Events are emitted on the step-loop thread, buffered until subscribed; subscribers must not block (move
 * slow work elsewhere with {@code emitOn}). Cancelling the subscription cancels the request. Errors in the
 * forward pass end the step's requests with an ERROR event; the loop goes on. An {@link ExpertReadException}
 * that names the batch rows routed to the failed experts ends only the sequences owning those rows, and the step
 * runs again for the others (at most {@value #MAX_FORWARD_ATTEMPTS} attempts; then they wait for the next step).
 * The model is the caller's to close; {@link #close()} stops the loop and ends unfinished requests with CANCELLED.
 */
public final class BatchScheduler implements GenerationEngine, AutoCloseable {
    private static final System.Logger LOG = System.getLogger(BatchScheduler.class.getName());
    /** Forward attempts per step when expert read faults fail some of its sequences (each attempt fails at least one). */
    static final int MAX_FORWARD_ATTEMPTS = 3;

    private final Model model;
    private final ModelInfo info;
    private final Detokenizer detokenizer;
    private final SchedulerConfig config;
    private final KvCache kv;
    private final int headroomBlocks;
    private final Sampler sampler;
    private final ForwardBatch batch;
    private final StepStats stepStats = new StepStats();
    private float[] logits = new float[0];

    // Shared with submitting threads: guarded by lock.
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition wake = lock.newCondition();
    private final ArrayDeque<Request> inbox = new ArrayDeque<>();
    private boolean closed;
    private boolean cancelSignalled;
    private int queued;
    private final AtomicInteger active = new AtomicInteger();

    // Owned by the step loop.
    private final ArrayDeque<Request> waiting = new ArrayDeque<>();
    private final ArrayList<Request> running = new ArrayList<>();
    private final ArrayList<Request> stepRequests = new ArrayList<>();
    /** The sequences of a failed forward attempt that did not need the failed experts: the step runs again for them. */
    private final ArrayList<Request> retryRequests = new ArrayList<>();
    private final ArrayList<TokenEvent> stepEvents = new ArrayList<>();
    private final ArrayList<Request> stepEventRequests = new ArrayList<>();

    private final Totals totals;
    private volatile int kvFreeBlocks, kvCachedBlocks;
    private volatile StepListener stepListener;
    private final Thread loop;
    /** The test-only logit perturbation, null unless {@value LogitNoise#PROPERTY} is set. */
    private final LogitNoise noise = LogitNoise.fromSystemProperty();

    public BatchScheduler(Model model, Detokenizer detokenizer, SchedulerConfig config) {
        this.model = model;
        this.info = model.info();
        this.detokenizer = detokenizer;
        this.config = config;
        long blockBytes = model.newKvCache(1).bytesPerToken() * KvCache.BLOCK;
        long blocks = config.kvCacheBytes() / blockBytes;
        if (blocks < 1) {
            throw new IllegalArgumentException("kvCacheBytes " + config.kvCacheBytes() + " is less than one KV block of "
                    + info.name() + " (" + blockBytes + " bytes)");
        }
        // more than every sequence at full context could use is never touched
        long useful = (long) config.maxSequences() * KvCache.blocksFor(info.contextLength() + 1);
        this.kv = model.newKvCache((int) Math.min(Math.min(blocks, useful), Integer.MAX_VALUE - 8));
        if (config.prefixCache() && model.kvIsFunctionOfPrefix()) kv.enablePrefixCache();
        else if (config.prefixCache()) {
            LOG.log(System.Logger.Level.INFO, info.name() + " keeps per-sequence state beside its KV cache: prefix caching is off");
        }
        this.headroomBlocks = Math.max(1, kv.totalBlocks() / 100);
        this.kvFreeBlocks = kv.freeBlocks();
        this.sampler = new Sampler(info.vocabSize());
        this.batch = new ForwardBatch(config.maxBatchTokens());
        this.totals = new Totals(info.layers());
        if (noise != null) {
            LOG.log(System.Logger.Level.WARNING, "TEST HOOK " + LogitNoise.PROPERTY + " is set: every logit gets random"
                    + " noise of amplitude " + noise.amplitude() + "; outputs are deliberately wrong");
        }
        this.loop = new Thread(this::runLoop, "moeflow-step-loop");
        loop.setDaemon(true);
        loop.start();
    }

    public ModelInfo modelInfo() {
        return info;
    }

    public SchedulerConfig config() {
        return config;
    }

    public int totalKvBlocks() {
        return kv.totalBlocks();
    }

    /** Whether sequences share the KV blocks of common prefixes (configured, and the model allows it). */
    public boolean prefixCacheEnabled() {
        return kv.prefixCacheEnabled();
    }

    /**
     * Free KV blocks as of the last change, cached blocks no sequence uses included (they are evicted on demand); a
     * request's blocks are back before its last event is emitted.
     */
    public int freeKvBlocks() {
        return kvFreeBlocks;
    }

    /**
     * Told the size of each forward step, on the step-loop thread (e.g. the service's batch-size histogram, which
     * totals in {@link #stats()} cannot give). Must be quick and not block; a failure is logged and ignored.
     */
    @FunctionalInterface
    public interface StepListener {
        /** {@code batchTokens} tokens were fed (prompt and decode) and {@code generatedTokens} tokens sampled. */
        void stepDone(int batchTokens, int generatedTokens);
    }

    /** Replaces the step listener (null: none). */
    public void onStep(StepListener listener) {
        this.stepListener = listener;
    }

    /** The longest window {@link #expertActivity} counts over. */
    public static final int MAX_ACTIVITY_SECONDS = ExpertActivity.MAX_SECONDS;

    /**
     * Tokens routed to each expert, {@code [layer][expert]}, in the steps of the last {@code seconds} whole seconds
     * (1 to {@value ExpertActivity#MAX_SECONDS}; the current second included); a row is null for a layer that never
     * routed a token (a dense layer). Whoever has seen a step's events sees its counts here.
     */
    public long[][] expertActivity(int seconds) {
        return totals.expertActivity(seconds);
    }

    public SchedulerStats stats() {
        int runningNow, waitingNow;
        lock.lock();
        try {
            waitingNow = queued;
            runningNow = active.get() - queued;
        } finally {
            lock.unlock();
        }
        return totals.snapshot(runningNow, waitingNow, kvFreeBlocks, kv.totalBlocks(), kvCachedBlocks);
    }

    @Override
    public Handle submit(GenerationRequest request) {
        return submitAll(List.of(request), h -> {}).getFirst();
    }

    /**
     * Queues all requests at once, so they start in the same step, and hands each handle to {@code onQueued}
     * before the step loop can see any of them (subscribe there to miss nothing, timestamps included). All or
     * none: an invalid request or a full queue refuses the whole list.
     */
    public List<Handle> submitAll(List<GenerationRequest> requests, java.util.function.Consumer<Handle> onQueued) {
        List<Request> accepted = new ArrayList<>(requests.size());
        for (GenerationRequest request : requests) accepted.add(new Request(validated(request)));
        lock.lock();
        try {
            if (closed) throw new IllegalStateException("the scheduler is closed");
            if (queued + accepted.size() > config.maxQueued()) {
                throw new QueueFullException("queue is full: " + queued + " requests are waiting (maxQueued "
                        + config.maxQueued() + ")");
            }
            for (Request r : accepted) {
                queued++;
                r.countedAsQueued = true;
                active.incrementAndGet();
                inbox.add(r);
            }
            // the loop needs this lock to take from the inbox: nothing runs before every handle is passed on
            for (Request r : accepted) onQueued.accept(r);
            wake.signal();
        } finally {
            lock.unlock();
        }
        return List.copyOf(accepted);
    }

    private Sequence validated(GenerationRequest request) {
        requireInVocabulary(request, request.promptTokens());
        requireInVocabulary(request, request.resumeTokens());
        Sequence seq = new Sequence(request, detokenizer, info.contextLength());
        int need = KvCache.blocksFor(seq.length());
        if (need > kv.totalBlocks()) {
            throw new IllegalArgumentException("request " + request.id() + ": the prompt needs " + need
                    + " KV blocks but the pool has " + kv.totalBlocks() + " (raise kvCacheBytes)");
        }
        return seq;
    }

    private void requireInVocabulary(GenerationRequest request, int[] tokens) {
        for (int t : tokens) {
            if (t < 0 || t >= info.vocabSize()) {
                throw new IllegalArgumentException("request " + request.id() + ": token id " + t
                        + " is outside the vocabulary (0.." + (info.vocabSize() - 1) + ")");
            }
        }
    }

    @Override
    public int active() {
        return active.get();
    }

    @Override
    public boolean full() {
        lock.lock();
        try {
            return queued >= config.maxQueued();
        } finally {
            lock.unlock();
        }
    }

    /** Stops the loop after the current step; unfinished requests end with CANCELLED. Idempotent. */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) return;
            closed = true;
            wake.signalAll();
        } finally {
            lock.unlock();
        }
        if (Thread.currentThread() != loop) {
            try {
                loop.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    // ---------------------------------------------------------------- step loop

    private void runLoop() {
        try {
            while (true) {
                lock.lock();
                try {
                    // admit() leaves nothing waiting while nothing runs, so an idle loop sleeps here
                    while (!closed && inbox.isEmpty() && running.isEmpty() && waiting.isEmpty() && !cancelSignalled) {
                        wake.awaitUninterruptibly();
                    }
                    if (closed) break;
                    waiting.addAll(inbox);
                    inbox.clear();
                    cancelSignalled = false;
                } finally {
                    lock.unlock();
                }
                long start = System.nanoTime();
                stepRequests.clear();
                try {
                    applyCancellations();
                    admit();
                    if (!running.isEmpty()) step(start);
                } catch (RuntimeException | Error e) {
                    // a bug in the scheduler itself: fail what the step touched rather than the whole service
                    LOG.log(System.Logger.Level.ERROR, "scheduler step failed", e);
                    for (Request r : List.copyOf(stepRequests)) if (r.seq.finish() == null) failRequest(r, e);
                }
            }
        } finally {
            List<Request> left = new ArrayList<>(running);
            left.addAll(waiting);
            lock.lock();
            try {
                left.addAll(inbox);
                inbox.clear();
            } finally {
                lock.unlock();
            }
            for (Request r : left) if (r.seq.finish() == null) endWithoutToken(r, FinishReason.CANCELLED, null, null);
        }
    }

    private void applyCancellations() {
        for (var it = waiting.iterator(); it.hasNext(); ) {
            Request r = it.next();
            if (r.cancelRequested) {
                it.remove();
                endWithoutToken(r, FinishReason.CANCELLED, null, null);
            }
        }
        for (int i = running.size() - 1; i >= 0; i--) {
            Request r = running.get(i);
            if (r.cancelRequested) endWithoutToken(r, FinishReason.CANCELLED, null, null);
        }
    }

    /** First come, first served: the head of the queue blocks the rest so a long prompt is not starved. */
    private void admit() {
        while (!waiting.isEmpty() && running.size() < config.maxSequences()) {
            Request r = waiting.peekFirst();
            // the cached full blocks its tokens begin with, leaving at least the last token to feed (for its logits)
            KvCache.Prefix prefix = kv.findPrefix(r.seq::token, r.seq.length() - 1);
            if (kv.prefixCacheEnabled() && anotherIsComputing(r, prefix.tokens())) return; // soon cached: wait for it
            int need = KvCache.blocksFor(r.seq.length()) - prefix.blocks().length;
            int free = kv.freeBlocks() - kv.idleAmong(prefix);
            if (running.isEmpty() ? need > free : need + headroomBlocks > free) {
                if (!running.isEmpty()) return;
                // only a preempted sequence can outgrow the whole pool: it cannot run again
                waiting.pollFirst();
                endWithoutToken(r, FinishReason.LENGTH, null, null);
                continue;
            }
            waiting.pollFirst();
            int seq = kv.newSequence();
            if (prefix.tokens() > 0) kv.attachPrefix(seq, prefix);
            kv.ensureCapacity(seq, r.seq.length());
            r.seq.attachKv(seq);
            r.seq.advance(prefix.tokens()); // in the cache already: not fed
            if (kv.prefixCacheEnabled()) totals.addPrefixLookup(r.seq.length(), prefix.tokens());
            // the first admission's hit is what the client saved; a readmission after preemption finds its own blocks
            if (r.cachedPromptTokens < 0) r.cachedPromptTokens = Math.min(prefix.tokens(), r.seq.promptLength());
            running.add(r);
            kvChanged();
            if (r.countedAsQueued) {
                r.countedAsQueued = false;
                lock.lock();
                try {
                    queued--;
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    /**
     * Whether a running sequence is about to write the next full block of r's tokens after its cached
     * {@code cached} positions: same tokens from position 0 to that block's end, not all of them fed yet. Admitting
     * r now would compute that block twice; a step later it is cached (requests sharing a system prompt that arrive
     * together prefill it once). The wait is bounded: the running sequence feeds some of its prompt every step.
     */
    private boolean anotherIsComputing(Request r, int cached) {
        int end = cached + KvCache.BLOCK;
        if (end > r.seq.length() - 1) return false; // no further block could be shared
        for (Request q : running) {
            Sequence s = q.seq;
            if (s.processed() >= end || s.length() < end) continue;
            int i = 0;
            while (i < end && s.token(i) == r.seq.token(i)) i++;
            if (i == end) return true;
        }
        return false;
    }

    private void step(long start) {
        // 1. KV room for every token to feed; the oldest sequences keep theirs, the newest are preempted
        for (int i = 0; i < running.size(); i++) ensureKv(running.get(i));
        if (running.isEmpty()) return;

        // 2. the batch: decode tokens first, then prompt chunks, within the token budget
        batch.clear();
        stepRequests.clear();
        int budget = config.maxBatchTokens(), rows = 0;
        for (Request r : running) {
            if (budget > 0 && r.seq.pending() == 1) {
                rows = schedule(r, 1, rows);
                budget--;
            }
        }
        for (Request r : running) {
            if (budget > 0 && r.seq.pending() > 1) {
                int n = Math.min(r.seq.pending(), budget);
                rows = schedule(r, n, rows);
                budget -= n;
            }
        }
        int vocab = info.vocabSize();
        if (logits.length < rows * vocab) {
            // grow geometrically up to the most rows a step can want
            int grown = Math.max(rows, Math.min(2 * logits.length / vocab, config.maxSequences()));
            logits = new float[grown * vocab];
        }

        // 3. the forward pass. Expert read faults fail only the sequences routed to the failed experts; the step
        // then runs again for the others. Nothing of a failed attempt is kept: sequences advance, the sampler
        // draws and the KV lengths grow only after a successful one, and a re-run rewrites the KV positions the
        // failed attempt wrote with the same values.
        long forwardNanos = 0;
        for (int attempt = 1; ; attempt++) {
            stepStats.reset(info.layers());
            long forwardStart = System.nanoTime();
            Throwable failure = null;
            try {
                model.forward(batch, kv, logits, stepStats);
            } catch (RuntimeException | Error e) {
                failure = e;
            }
            forwardNanos += System.nanoTime() - forwardStart;
            if (failure == null) {
                if (noise != null) noise.perturb(logits, rows * vocab);
                break;
            }
            int before = stepRequests.size();
            if (!failRoutedSequences(failure)) {
                LOG.log(System.Logger.Level.ERROR, "forward step failed for " + before + " sequences", failure);
                for (Request r : List.copyOf(stepRequests)) failRequest(r, failure);
                totals.addFailedStep(forwardNanos, System.nanoTime() - start - forwardNanos);
                return;
            }
            int left = retryRequests.size();
            LOG.log(System.Logger.Level.WARNING, (before - left) + " of " + before + " sequences of the step failed: "
                    + failure.getMessage() + (left == 0 ? "" : attempt < MAX_FORWARD_ATTEMPTS
                    ? "; running the step again for the other " + left : "; the other " + left + " wait for the next step"));
            if (left == 0 || attempt == MAX_FORWARD_ATTEMPTS) {
                // bounded: the survivors have not advanced, so the next step simply schedules them again
                stepRequests.clear();
                retryRequests.clear();
                totals.addFailedStep(forwardNanos, System.nanoTime() - start - forwardNanos);
                return;
            }
            batch.clear();
            stepRequests.clear();
            int retryRows = 0;
            for (Request r : retryRequests) retryRows = schedule(r, r.chunk, retryRows);
            retryRequests.clear();
        }
        int decodeTokens = 0;
        for (Request r : stepRequests) if (r.seq.decoding()) decodeTokens++;

        // 4. sample, emit, retire
        int generated = 0;
        for (Request r : stepRequests) {
            r.seq.advance(r.chunk);
            kv.cacheFullBlocks(r.seq.kvSeq(), r.seq::token); // before release() below can free them
            if (r.logitRow < 0) continue;
            int token;
            try {
                token = r.seq.sample(sampler, logits, r.logitRow * vocab);
                r.seq.accept(token);
            } catch (TokenConstraint.DeadEndException e) {
                endWithoutToken(r, FinishReason.ERROR, "grammar_dead_end", e.getMessage());
                continue;
            } catch (RuntimeException e) {
                failRequest(r, e);
                continue;
            }
            generated++;
            FinishReason finish = r.seq.finish();
            if (finish != null) release(r);
            stepEvents.add(new TokenEvent(r.seq.requestId(), r.seq.generated() - 1, token, r.seq.delta(), finish,
                    finish != null ? r.usage() : null, null, null, r.seq.logprobs()));
            stepEventRequests.add(r);
        }
        kvChanged(); // the blocks the step filled are cached now
        // totals first, so whoever sees a step's events also sees the step in stats()
        totals.addStep(stepStats, batch.size - decodeTokens, decodeTokens, generated, forwardNanos,
                System.nanoTime() - start - forwardNanos);
        StepListener listener = stepListener;
        if (listener != null) {
            try {
                listener.stepDone(batch.size, generated);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "step listener failed", e);
            }
        }
        for (int i = 0; i < stepEvents.size(); i++) {
            Request r = stepEventRequests.get(i);
            TokenEvent e = stepEvents.get(i);
            r.emit(e);
            if (e.last()) r.complete();
        }
        stepEvents.clear();
        stepEventRequests.clear();
    }

    /**
     * When {@code failure} is an expert read fault that names the batch rows routed to the failed experts, ends
     * the step's sequences owning such a row with an ERROR event, leaves the others in {@link #retryRequests}
     * (step order) and returns true; false when the failure cannot be narrowed to some of the step's sequences.
     */
    private boolean failRoutedSequences(Throwable failure) {
        retryRequests.clear();
        if (!(failure instanceof ExpertReadException e) || e.rows() == null) return false;
        // rows are in schedule order: each request's chunk is a run of consecutive rows
        int first = 0;
        boolean any = false;
        for (Request r : stepRequests) {
            boolean hit = false;
            for (int row = first; row < first + r.chunk && !hit; row++) hit = e.affectsRow(row);
            first += r.chunk;
            any |= hit;
            if (!hit) retryRequests.add(r);
        }
        if (!any) {
            retryRequests.clear();
            return false;
        }
        for (Request r : stepRequests) if (!retryRequests.contains(r)) failRequest(r, e);
        return true;
    }

    /** Adds the next {@code n} pending tokens of r to the batch; logits for the last one if it ends the pending run. */
    private int schedule(Request r, int n, int rows) {
        Sequence s = r.seq;
        int from = s.processed();
        boolean last = from + n == s.length();
        for (int p = from; p < from + n; p++) batch.add(s.token(p), p, s.kvSeq(), last && p == from + n - 1);
        r.chunk = n;
        r.logitRow = last ? rows : -1;
        stepRequests.add(r);
        return last ? rows + 1 : rows;
    }

    /** Gives r blocks for all its tokens, preempting the newest running sequences as needed. */
    private void ensureKv(Request r) {
        while (!kv.ensureCapacity(r.seq.kvSeq(), r.seq.length())) {
            Request newest = running.getLast();
            if (newest == r && running.size() == 1) {
                endWithoutToken(r, FinishReason.LENGTH, null, null); // the whole pool is not enough
                return;
            }
            preempt(newest);
            if (newest == r) return;
        }
        kvChanged();
    }

    private void preempt(Request r) {
        kv.freeSequence(r.seq.kvSeq());
        r.seq.dropKv();
        running.remove(r);
        waiting.addFirst(r);
        kvChanged();
        totals.addPreemption();
    }

    /** Publishes the pool's figures for {@link #freeKvBlocks()} and {@link #stats()} (other threads read them). */
    private void kvChanged() {
        kvFreeBlocks = kv.freeBlocks();
        kvCachedBlocks = kv.cachedBlocks();
    }

    private void failRequest(Request r, Throwable e) {
        String message = e.getMessage() != null ? e.getClass().getSimpleName() + ": " + e.getMessage() : e.toString();
        endWithoutToken(r, FinishReason.ERROR, "engine_error", message);
    }

    /** Ends r with a last event that carries no token (token -1, index = tokens generated so far). */
    private void endWithoutToken(Request r, FinishReason reason, String errorCode, String errorMessage) {
        r.seq.end(reason);
        release(r);
        r.emit(new TokenEvent(r.seq.requestId(), r.seq.generated(), -1, r.seq.delta(), reason, r.usage(),
                errorCode, errorMessage));
        r.complete();
    }

    /** Returns r's KV blocks and forgets it; done before its last event so the blocks are free when it arrives. */
    private void release(Request r) {
        if (r.seq.kvSeq() >= 0) {
            kv.freeSequence(r.seq.kvSeq());
            r.seq.dropKv();
            kvChanged();
        }
        running.remove(r);
        waiting.remove(r);
        if (r.countedAsQueued) {
            r.countedAsQueued = false;
            lock.lock();
            try {
                queued--;
            } finally {
                lock.unlock();
            }
        }
        active.decrementAndGet();
        totals.addCompleted();
    }

    private void signalCancel() {
        lock.lock();
        try {
            cancelSignalled = true;
            wake.signal();
        } finally {
            lock.unlock();
        }
    }

    // ---------------------------------------------------------------- requests

    private final class Request implements Handle {
        final Sequence seq;
        final UnicastProcessor<TokenEvent> processor = UnicastProcessor.create();
        final Multi<TokenEvent> events;
        volatile boolean cancelRequested;
        boolean countedAsQueued;
        /** Tokens fed in the current step and the logits row of its last one (-1: none). */
        int chunk, logitRow;
        /** Prompt tokens served from the prefix cache at the first admission (-1: not admitted yet). */
        int cachedPromptTokens = -1;

        Request(Sequence seq) {
            this.seq = seq;
            this.events = processor.onCancellation().invoke(this::cancel);
        }

        @Override
        public String id() {
            return seq.requestId();
        }

        @Override
        public Multi<TokenEvent> events() {
            return events;
        }

        @Override
        public void cancel() {
            if (cancelRequested) return;
            cancelRequested = true;
            signalCancel();
        }

        TokenEvent.Usage usage() {
            return new TokenEvent.Usage(seq.promptLength(), seq.generated(), Math.max(0, cachedPromptTokens));
        }

        void emit(TokenEvent e) {
            try {
                processor.onNext(e);
            } catch (RuntimeException ex) {
                // a subscriber's failure is its own; the loop and the other streams go on
                LOG.log(System.Logger.Level.WARNING, "subscriber of request " + id() + " failed", ex);
            }
        }

        void complete() {
            try {
                processor.onComplete();
            } catch (RuntimeException ex) {
                LOG.log(System.Logger.Level.WARNING, "subscriber of request " + id() + " failed", ex);
            }
        }
    }

    // ---------------------------------------------------------------- statistics

    /** Running totals; written by the loop, read by snapshot() from any thread. */
    private static final class Totals {
        private long steps, prefillTokens, decodeTokens, generatedTokens, decodeSteps, expertBytes;
        private double decodeExpertLoadsPerToken;
        private final long[] distinctExperts, expertInvocations;
        private long attentionNanos, expertNanos, otherNanos, forwardNanos, schedulingNanos;
        private long preemptions, completed, prefixQueriedTokens, prefixHitTokens;

        private final ExpertActivity activity;

        Totals(int layers) {
            distinctExperts = new long[layers];
            expertInvocations = new long[layers];
            activity = new ExpertActivity(layers);
        }

        private static long second() {
            return Math.floorDiv(System.nanoTime(), 1_000_000_000L);
        }

        synchronized long[][] expertActivity(int seconds) {
            return activity.window(seconds, second());
        }

        synchronized void addStep(StepStats s, int prefill, int decode, int generated, long forward, long scheduling) {
            steps++;
            prefillTokens += prefill;
            decodeTokens += decode;
            generatedTokens += generated;
            long loads = 0;
            for (int l = 0; l < Math.min(distinctExperts.length, s.distinctExperts.length); l++) {
                distinctExperts[l] += s.distinctExperts[l];
                expertInvocations[l] += s.expertInvocations[l];
                loads += s.distinctExperts[l];
            }
            if (prefill == 0 && decode > 0) {
                decodeSteps++;
                decodeExpertLoadsPerToken += (double) loads / decode;
            }
            expertBytes += s.expertBytes;
            activity.add(s.routedTokens, second());
            attentionNanos += s.attentionNanos;
            expertNanos += s.expertNanos;
            otherNanos += s.otherNanos;
            forwardNanos += forward;
            schedulingNanos += scheduling;
        }

        synchronized void addFailedStep(long forward, long scheduling) {
            steps++;
            forwardNanos += forward;
            schedulingNanos += scheduling;
        }

        synchronized void addPreemption() {
            preemptions++;
        }

        /** A sequence admitted with {@code tokens} tokens, the first {@code hit} of them found in the prefix cache. */
        synchronized void addPrefixLookup(int tokens, int hit) {
            prefixQueriedTokens += tokens;
            prefixHitTokens += hit;
        }

        synchronized void addCompleted() {
            completed++;
        }

        synchronized SchedulerStats snapshot(int running, int waiting, int kvFree, int kvTotal, int kvCached) {
            return new SchedulerStats(steps, prefillTokens, decodeTokens, generatedTokens, decodeSteps,
                    decodeExpertLoadsPerToken, distinctExperts.clone(), expertInvocations.clone(), expertBytes,
                    attentionNanos, expertNanos, otherNanos, forwardNanos, schedulingNanos, preemptions, completed,
                    running, waiting, kvFree, kvTotal, prefixQueriedTokens, prefixHitTokens, kvCached);
        }
    }
}
