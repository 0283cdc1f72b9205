package io.moeflow.tokenizer;
import io.moeflow.testing.SharedFiles;
import org.junit.jupiter.api.Test;
class TmpTimingTest {
  @Test void time() throws Exception {
      Tokenizer t = Tokenizer.of(TestGgufMetadata.vocabulary(SharedFiles.root().resolve("models/stories260K/stories260K.gguf")));
      for (String s : new String[]{"é"," é","aé", "🦙"}) { int[] ids = t.encode(s,false,false); System.out.println(s+" -> "+java.util.Arrays.toString(ids)); for (int id: ids) System.out.println("   "+id+" "+t.vocabulary().tokens()[id]); }
  }
}
