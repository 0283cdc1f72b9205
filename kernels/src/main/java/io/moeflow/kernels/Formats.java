package io.moeflow.kernels;

/** The {@link TensorFormat} of each supported ggml type. */
public final class Formats {
    private Formats() {}

    private static final TensorFormat[] BY_ID = new TensorFormat[64];

    static {
        for (TensorFormat f : new TensorFormat[] {
                new F32Format(), new F16Format(), new BF16Format(),
                new Q8_0Format(), new Q4_0Format(), new Q4_1Format(), new Q5_0Format(), new Q5_1Format(),
                new Q2_KFormat(), new Q3_KFormat(), new Q4_KFormat(), new Q5_KFormat(), new Q6_KFormat(),
                new MXFP4Format(),
                new IQ4_NLFormat(), new IQ4_XSFormat(), new IQ2_XXSFormat(), new IQ2_XSFormat(), new IQ2_SFormat(),
                new IQ3_XXSFormat(), new IQ3_SFormat(), new IQ1_SFormat(), new IQ1_MFormat(),
                new TQ1_0Format(), new TQ2_0Format()}) {
            BY_ID[f.type().id] = f;
        }
    }

    /** True when moeflow can compute with tensors of this type. */
    public static boolean supports(GgmlType t) {
        return t != null && BY_ID[t.id] != null;
    }

    public static TensorFormat of(GgmlType t) {
        TensorFormat f = t == null ? null : BY_ID[t.id];
        if (f == null) throw new UnsupportedOperationException("tensor type " + t + " is not supported; supported: " + supported());
        return f;
    }

    public static String supported() {
        StringBuilder sb = new StringBuilder();
        for (TensorFormat f : BY_ID) if (f != null) sb.append(sb.isEmpty() ? "" : ", ").append(f.type());
        return sb.toString();
    }
}
