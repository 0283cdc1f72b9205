package io.moeflow.experts;

/** The step protocol as {@code MoeFfn} runs it, for tests that hold experts without a model. */
final class StoreSteps {
    private StoreSteps() {}

    /**
     * {@link ExpertWeights#request} then {@link ExpertWeights#ready} until all of {@code ids[from .. from+n)} are
     * readable (the range may be reordered); on a failure releases them and rethrows. The caller releases on success.
     */
    static void hold(ExpertWeights w, int[] ids, int from, int n) {
        w.request(ids, from, n);
        try {
            for (int done = 0; done < n; ) done += w.ready(ids, from + done, n - done);
        } catch (RuntimeException e) {
            w.release(ids, from, n);
            throw e;
        }
    }

    /**
     * Routing that answers what the test asks for: {@link #next} sets the experts chosen (for one token) at the
     * next {@link ExpertStore#ffnInput}, so a test issues exactly the prefetch it wants through the live path.
     */
    static final class ScriptedRouting implements ExpertRouting {
        private int[] next = new int[0];

        ScriptedRouting next(int... experts) {
            next = experts.clone();
            return this;
        }

        @Override
        public int route(int layer, float[] x, int n, int[] selected) {
            for (int t = 0; t < n; t++) System.arraycopy(next, 0, selected, t * next.length, next.length);
            return next.length;
        }
    }
}
