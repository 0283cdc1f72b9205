package io.moeflow.model.blocks;

/**
 * Llama-4-style attention temperature tuning ({@code <arch>.attention.temperature_scale} and {@code _length};
 * Mistral-Large-3): queries at position {@code pos} are multiplied by
 * {@code log(floor((pos + offset) / length) + 1) * scale + 1}, as llama.cpp's llm_graph_input_attn_temp computes it
 * (float division and floor, the rest in double, stored as float).
 */
public record AttentionTemperature(float scale, int length, float offset) {
    public static final AttentionTemperature NONE = new AttentionTemperature(0f, 0, 0f);

    public AttentionTemperature {
        if (scale != 0f && length <= 0)
            throw new IllegalArgumentException("attention temperature scale " + scale + " needs a positive temperature length, got " + length);
    }

    public boolean enabled() {
        return scale != 0f;
    }

    /** The query factor at position {@code pos} (1 when disabled). */
    public float factor(int pos) {
        if (!enabled()) return 1f;
        float steps = (float) Math.floor(((float) pos + offset) / (float) length);
        return (float) (Math.log(steps + 1.0) * scale + 1.0);
    }
}
