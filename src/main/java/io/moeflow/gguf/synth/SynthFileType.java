package io.moeflow.gguf.synth;

import io.moeflow.kernels.GgmlType;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The file types {@code synth} writes, named and numbered as llama.cpp's {@code llama_ftype}
 * ({@code general.file_type}). {@link #baseType} is the type most 2-D weights get; {@link QuantRules} says which
 * tensors deviate from it.
 */
public enum SynthFileType {
    F32(0, GgmlType.F32),
    F16(1, GgmlType.F16),
    Q8_0(7, GgmlType.Q8_0),
    Q4_K_M(15, GgmlType.Q4_K),
    IQ4_NL(25, GgmlType.IQ4_NL),
    IQ4_XS(30, GgmlType.IQ4_XS);

    /** {@code general.file_type} (LLAMA_FTYPE_*). */
    public final int fileTypeId;
    /** What llama-quantize's llama_ftype_get_default_type gives for this file type. */
    public final GgmlType baseType;

    SynthFileType(int fileTypeId, GgmlType baseType) {
        this.fileTypeId = fileTypeId;
        this.baseType = baseType;
    }

    /** True when the weights are block-quantized (llama-quantize then writes general.quantization_version). */
    public boolean quantized() {
        return baseType.blockSize > 1;
    }

    /** Parses a name like {@code Q4_K_M} (case-insensitive), or fails naming the accepted ones. */
    public static SynthFileType parse(String s) {
        for (SynthFileType t : values()) if (t.name().equalsIgnoreCase(s.trim())) return t;
        throw new IllegalArgumentException("unknown --type '" + s + "' (supported: " + supportedList() + ")");
    }

    public static String supportedList() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }

    @Override
    public String toString() {
        return name().toUpperCase(Locale.ROOT);
    }
}
