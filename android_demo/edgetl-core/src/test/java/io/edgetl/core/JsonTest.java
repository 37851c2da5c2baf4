package io.edgetl.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
    @Test
    public void parsesNestedValues() {
        Object v = Json.parse("{\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"x\\\"y\\u00e9\\n\"}}");
        Map<?, ?> m = (Map<?, ?>) v;
        List<?> a = (List<?>) m.get("a");
        assertEquals(1.0, (Double) a.get(0), 0.0);
        assertEquals(-2500.0, (Double) a.get(1), 0.0);
        assertEquals(Boolean.TRUE, a.get(2));
        assertEquals(Boolean.FALSE, a.get(3));
        assertNull(a.get(4));
        assertEquals("x\"y\u00e9\n", ((Map<?, ?>) m.get("b")).get("c"));
    }

    @Test
    public void numbersRoundTripPythonRepr() {
        // Python's repr(float(np.float32(0.0078125 * 3))) and a typical scale: the same double back
        Map<?, ?> m = (Map<?, ?>) Json.parse("{\"s\": 0.003921568859368563, \"t\": 0.0234375}");
        assertEquals(0.003921568859368563, (Double) m.get("s"), 0.0);
        assertEquals((float) 0.003921568859368563, (float) ((Double) m.get("s")).doubleValue(), 0f);
        assertEquals(0.0234375, (Double) m.get("t"), 0.0);
    }

    @Test
    public void rejectsMalformedDocuments() {
        String[] bad = {"", "{", "{\"a\" 1}", "[1, 2", "{\"a\": tru}", "{\"a\": 1} x", "\"open"};
        for (String s : bad) {
            try {
                Json.parse(s);
                fail("accepted malformed JSON: " + s);
            } catch (ContractException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("not valid JSON"));
            }
        }
    }
}
