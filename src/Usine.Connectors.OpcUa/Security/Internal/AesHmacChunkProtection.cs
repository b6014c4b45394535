using System.Security.Cryptography;

namespace Usine.Connectors.OpcUa.Security.Internal;

/// <summary>The keys one side uses for the messages of one token (OPC 10000-6 §6.7.5).</summary>
internal sealed record SymmetricKeys(byte[] SigningKey, byte[] EncryptingKey, byte[] InitializationVector)
{
    public const int SigningKeyLength = 32;
    public const int EncryptingKeyLength = 32;
    public const int InitializationVectorLength = 16;

    /// <summary>Cuts the P_SHA256 output into signing key, encrypting key and IV, in that order.</summary>
    public static SymmetricKeys Derive(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> seed)
    {
        var material = PSha256.Expand(secret, seed, SigningKeyLength + EncryptingKeyLength + InitializationVectorLength);
        return new SymmetricKeys(
            material[..SigningKeyLength],
            material[SigningKeyLength..(SigningKeyLength + EncryptingKeyLength)],
            material[(SigningKeyLength + EncryptingKeyLength)..]);
    }
}

/// <summary>
/// MSG and CLO chunks of one token under Basic256Sha256: HMAC-SHA256 signature, and in SignAndEncrypt
/// AES-256-CBC with the token's IV and no padding of its own (the chunk footer pads to the 16-byte block).
/// </summary>
internal sealed class AesHmacChunkProtection : ChunkProtection, IDisposable
{
    private const int AesBlock = 16;
    private const int HmacSize = 32;

    private readonly SymmetricKeys _send;
    private readonly SymmetricKeys _receive;
    private readonly Aes _sendAes = Aes.Create();
    private readonly Aes _receiveAes = Aes.Create();
    private readonly Layout _layout;

    public AesHmacChunkProtection(uint tokenId, SymmetricKeys send, SymmetricKeys receive, bool encrypt)
    {
        TokenId = tokenId;
        _send = send;
        _receive = receive;
        _sendAes.Key = send.EncryptingKey;
        _receiveAes.Key = receive.EncryptingKey;
        _layout = LayoutFor(encrypt);
    }

    public static int MaxBodySize(int chunkSize, int headerSize, bool encrypt) => MaxBodySize(LayoutFor(encrypt), chunkSize, headerSize);

    private static Layout LayoutFor(bool encrypt) => new(encrypt, AesBlock, AesBlock, HmacSize, ExtraPadding: false);

    public uint TokenId { get; }

    protected override Layout SendLayout => _layout;

    protected override Layout ReceiveLayout => _layout;

    protected override string What => $"chunk of token {TokenId}";

    protected override void Sign(ReadOnlySpan<byte> data, Span<byte> signature) =>
        HMACSHA256.HashData(_send.SigningKey, data, signature);

    protected override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        Span<byte> expected = stackalloc byte[HmacSize];
        HMACSHA256.HashData(_receive.SigningKey, data, expected);
        return CryptographicOperations.FixedTimeEquals(expected, signature);
    }

    protected override void Encrypt(ReadOnlySpan<byte> plain, Span<byte> cipher)
    {
        lock (_sendAes)
        {
            _sendAes.EncryptCbc(plain, _send.InitializationVector, cipher, PaddingMode.None);
        }
    }

    protected override void Decrypt(ReadOnlySpan<byte> cipher, Span<byte> plain)
    {
        lock (_receiveAes)
        {
            _receiveAes.DecryptCbc(cipher, _receive.InitializationVector, plain, PaddingMode.None);
        }
    }

    public void Dispose()
    {
        _sendAes.Dispose();
        _receiveAes.Dispose();
        CryptographicOperations.ZeroMemory(_send.SigningKey);
        CryptographicOperations.ZeroMemory(_send.EncryptingKey);
        CryptographicOperations.ZeroMemory(_receive.SigningKey);
        CryptographicOperations.ZeroMemory(_receive.EncryptingKey);
    }
}
