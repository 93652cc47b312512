using Google.Protobuf;
using IngestFleet.Embedding.Models;
using Microsoft.ML.Tokenizers;

namespace IngestFleet.Embedding.Text;

/// <summary>
/// Reads a SentencePiece <c>spiece.model</c> (the <c>ModelProto</c> of google/sentencepiece
/// src/sentencepiece_model.proto: pieces = 1 {piece = 1, score = 2, type = 3}, trainer_spec = 2 {unk_id = 40,
/// treat_whitespace_as_suffix = 24, byte_fallback = 35}, normalizer_spec = 3 {precompiled_charsmap = 2,
/// add_dummy_prefix = 3, escape_whitespaces = 5}, model_type = 3 in trainer_spec: unigram only, a BPE model is refused)
/// and builds Microsoft.ML.Tokenizers' unigram tokenizer from its
/// pieces. The library's own model-file path (3.0.0) indexes the vocabulary with <c>bos_id</c> and throws for a model
/// without a start token (<c>bos_id = -1</c>), which is how SigLIP's and T5's models are trained; its
/// vocabulary path takes the same pieces and finds <c>&lt;/s&gt;</c> and <c>&lt;pad&gt;</c> by name.
/// </summary>
internal static class SentencePieceModelFile
{
    public static SentencePieceTokenizer Load(string path)
    {
        var pieces = new List<(string Piece, float Score)>();
        int unkId = 0, modelType = 1;
        bool byteFallback = false, whitespaceAsSuffix = false, addDummyPrefix = true, escapeWhitespaces = true;
        ByteString charsmap = ByteString.Empty;
        using var input = new CodedInputStream(File.ReadAllBytes(path));
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1:
                    string piece = "";
                    float score = 0;
                    int type = 1;
                    ReadMessage(input, m =>
                    {
                        uint t;
                        while ((t = m.ReadTag()) != 0)
                            switch (WireFormat.GetTagFieldNumber(t))
                            {
                                case 1: piece = m.ReadString(); break;
                                case 2: score = m.ReadFloat(); break;
                                case 3: type = m.ReadEnum(); break;
                                default: m.SkipLastField(); break;
                            }
                    });
                    // A control piece (type 3) other than the ones the tokenizer knows by name is never produced from text:
                    // it keeps its id under a name no text can contain.
                    if (type == 3 && piece is not ("<s>" or "</s>" or "<pad>")) piece = $"\uFFFF{pieces.Count}";
                    pieces.Add((piece, score));
                    break;
                case 2:
                    ReadMessage(input, m =>
                    {
                        uint t;
                        while ((t = m.ReadTag()) != 0)
                            switch (WireFormat.GetTagFieldNumber(t))
                            {
                                case 3: modelType = m.ReadEnum(); break;
                                case 40: unkId = m.ReadInt32(); break;
                                case 24: whitespaceAsSuffix = m.ReadBool(); break;
                                case 35: byteFallback = m.ReadBool(); break;
                                default: m.SkipLastField(); break;
                            }
                    });
                    break;
                case 3:
                    ReadMessage(input, m =>
                    {
                        uint t;
                        while ((t = m.ReadTag()) != 0)
                            switch (WireFormat.GetTagFieldNumber(t))
                            {
                                case 2: charsmap = m.ReadBytes(); break;
                                case 3: addDummyPrefix = m.ReadBool(); break;
                                case 5: escapeWhitespaces = m.ReadBool(); break;
                                default: m.SkipLastField(); break;
                            }
                    });
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }
        if (modelType != 1)
            throw new ModelManifestException($"{path}: a SentencePiece model of type {(modelType == 2 ? "BPE" : modelType.ToString(System.Globalization.CultureInfo.InvariantCulture))}; only unigram models (SigLIP's, T5's) are read.");
        return SentencePieceTokenizer.Create(pieces, unkId, addBeginningOfSentence: false, addEndOfSentence: false,
            charsmap.Span, addDummyPrefix, escapeWhitespaces, whitespaceAsSuffix, byteFallback);
    }

    private static void ReadMessage(CodedInputStream input, Action<CodedInputStream> read)
    {
        using var message = new CodedInputStream(input.ReadBytes().ToByteArray());
        read(message);
    }
}
