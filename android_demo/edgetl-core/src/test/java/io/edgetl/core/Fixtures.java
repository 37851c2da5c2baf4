package io.edgetl.core;

/** model.json texts for the tests, in the exact shape edgetl's Contract.to_dict() writes. */
final class Fixtures {
    private Fixtures() {
    }

    static String contractJson(String labels, int height, int width, String order, String mean, String std,
                               String inputTensor, int units, String activation, String outputTensor) {
        return "{\n"
                + "  \"format\": \"edgetl-contract/1\",\n"
                + "  \"artifact\": \"tflite:test\",\n"
                + "  \"labels\": [" + labels + "],\n"
                + "  \"input\": {\n"
                + "    \"height\": " + height + ",\n"
                + "    \"width\": " + width + ",\n"
                + "    \"channels\": 3,\n"
                + "    \"layout\": \"NHWC\",\n"
                + "    \"channel_order\": \"" + order + "\",\n"
                + "    \"value_range\": [0, 255],\n"
                + "    \"resize\": \"stretch-bilinear-topleft-int5\",\n"
                + "    \"mean\": [" + mean + "],\n"
                + "    \"std\": [" + std + "],\n"
                + "    " + inputTensor + "\n"
                + "  },\n"
                + "  \"output\": {\n"
                + "    \"units\": " + units + ",\n"
                + "    \"activation\": \"" + activation + "\",\n"
                + "    " + outputTensor + "\n"
                + "  },\n"
                + "  \"backbone\": \"mobilenet_v2\",\n"
                + "  \"alpha\": 0.35,\n"
                + "  \"weights_source\": null\n"
                + "}\n";
    }

    static final String FLOAT = "\"dtype\": \"float32\"";

    static ModelContract floatModel(String activation) {
        return ModelContract.parse(contractJson("\"a\", \"b\", \"c\"", 2, 2, "RGB", "127.5, 127.5, 127.5",
                "127.5, 127.5, 127.5", FLOAT, 3, activation, FLOAT));
    }

    static ModelContract uint8Model(double inScale, int inZp, double outScale, int outZp, String activation) {
        return ModelContract.parse(contractJson("\"a\", \"b\", \"c\"", 2, 2, "RGB", "127.5, 127.5, 127.5",
                "127.5, 127.5, 127.5",
                "\"dtype\": \"uint8\", \"scale\": " + inScale + ", \"zero_point\": " + inZp, 3, activation,
                "\"dtype\": \"uint8\", \"scale\": " + outScale + ", \"zero_point\": " + outZp));
    }
}
