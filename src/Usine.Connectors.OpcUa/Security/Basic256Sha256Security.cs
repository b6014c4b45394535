using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Security.Internal;

namespace Usine.Connectors.OpcUa.Security;

/// <summary>
/// SecurityPolicy Basic256Sha256 (OPC 10000-7) for one secure channel: OpenSecureChannel chunks signed with
/// RSA PKCS #1 v1.5 SHA-256 and encrypted with RSA-OAEP; the messages of each token signed with HMAC-SHA256
/// and, in SignAndEncrypt, encrypted with AES-256-CBC under keys derived from the two 32-byte nonces.
/// </summary>
/// <remarks>
/// The keys of the previous token are kept after a renewal so that chunks already under way with it still
/// open; the overlap ends when the first chunk under the new token verifies, after which the previous keys
/// are dropped (OPC 10000-4 §5.5.2: the receiver accepts the old token until a message with the new one comes).
/// The server's certificate is checked against the trust list before this object is made; see <see cref="TrustList"/>.
/// </remarks>
public sealed partial class Basic256Sha256Security : IChannelSecurity, IDisposable
{
    /// <summary>The length of the nonces of OpenSecureChannel and CreateSession under this policy.</summary>
    public const int NonceLength = 32;

    private const int MinKeyBits = 2048;
    private const int MaxKeyBits = 4096;

    private readonly X509Certificate2 _remoteCertificate;
    private readonly RSA _ownKey;
    private readonly RSA _remoteKey;
    private readonly byte[] _localCertificate;
    private readonly byte[] _localThumbprint;
    private readonly byte[] _remoteThumbprint;
    private readonly bool _isClient;
    private readonly RsaChunkProtection _asymmetric;
    private readonly Lock _tokensLock = new();
    private AesHmacChunkProtection? _retired;
    private AesHmacChunkProtection? _current;
    private AesHmacChunkProtection? _previous;

    /// <summary>
    /// The client side of a channel to the server whose certificate (from its endpoint description, possibly
    /// followed by its chain) is <paramref name="serverCertificate"/>, with this application's
    /// <paramref name="clientCertificate"/>, which must carry its RSA private key.
    /// </summary>
    public Basic256Sha256Security(X509Certificate2 clientCertificate, ReadOnlySpan<byte> serverCertificate, MessageSecurityMode mode)
        : this(clientCertificate, serverCertificate, mode, isClient: true)
    {
    }

    /// <summary>Either side of a channel; the server side exists so that the two ends can be tested against each other.</summary>
    internal Basic256Sha256Security(X509Certificate2 ownCertificate, ReadOnlySpan<byte> remoteCertificate, MessageSecurityMode mode, bool isClient)
    {
        ArgumentNullException.ThrowIfNull(ownCertificate);
        if (mode is not (MessageSecurityMode.Sign or MessageSecurityMode.SignAndEncrypt))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Basic256Sha256 protects messages in Sign or SignAndEncrypt mode only.");
        }
        Mode = mode;
        _isClient = isClient;
        _ownKey = ownCertificate.GetRSAPrivateKey()
            ?? throw new ArgumentException($"The certificate '{ownCertificate.Subject}' has no RSA private key to sign with.", nameof(ownCertificate));
        CheckKeySize(_ownKey, ownCertificate.Subject, "this application's");
        _localCertificate = ownCertificate.RawData;
        _localThumbprint = SHA1.HashData(_localCertificate);

        _remoteCertificate = CertificateBlob.LoadFirst(remoteCertificate);
        _remoteKey = _remoteCertificate.GetRSAPublicKey()
            ?? throw new ArgumentException($"The certificate '{_remoteCertificate.Subject}' has no RSA key; Basic256Sha256 needs one.", nameof(remoteCertificate));
        CheckKeySize(_remoteKey, _remoteCertificate.Subject, isClient ? "the server's" : "the client's");
        _remoteThumbprint = SHA1.HashData(_remoteCertificate.RawData);
        _asymmetric = new RsaChunkProtection(_ownKey, _remoteKey);
    }

    public string PolicyUri => SecurityPolicyUris.Basic256Sha256;

    public MessageSecurityMode Mode { get; }

    public ReadOnlyMemory<byte> LocalCertificate => _localCertificate;

    public ReadOnlyMemory<byte> RemoteCertificateThumbprint => _remoteThumbprint;

    public byte[] CreateClientNonce() => RandomNumberGenerator.GetBytes(NonceLength);

    public void DeriveKeys(uint tokenId, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce)
    {
        if (clientNonce.Length != NonceLength || serverNonce.Length != NonceLength)
        {
            throw new CryptographicException(
                $"Basic256Sha256 needs {NonceLength}-byte nonces; the client's has {clientNonce.Length} bytes and the server's {serverNonce.Length}.");
        }
        // OPC 10000-6 §6.7.5: the client's keys come from P_SHA256(serverNonce, clientNonce), the server's from
        // P_SHA256(clientNonce, serverNonce); each side signs and encrypts with its own and opens with the other's.
        var clientKeys = SymmetricKeys.Derive(serverNonce, clientNonce);
        var serverKeys = SymmetricKeys.Derive(clientNonce, serverNonce);
        var protection = _isClient
            ? new AesHmacChunkProtection(tokenId, clientKeys, serverKeys, Mode == MessageSecurityMode.SignAndEncrypt)
            : new AesHmacChunkProtection(tokenId, serverKeys, clientKeys, Mode == MessageSecurityMode.SignAndEncrypt);
        lock (_tokensLock)
        {
            if (_current is not null && _current.TokenId != tokenId)
            {
                Retire(_previous);
                _previous = _current;
            }
            else
            {
                Retire(_current);
            }
            _current = protection;
        }
    }

    /// <summary>The token ids whose keys this channel holds, newest first.</summary>
    internal IReadOnlyList<uint> HeldTokens
    {
        get
        {
            lock (_tokensLock)
            {
                return HeldTokensLocked();
            }
        }
    }

    private uint[] HeldTokensLocked() =>
        new[] { _current, _previous }.OfType<AesHmacChunkProtection>().Select(p => p.TokenId).ToArray();

    public int MaxBodySize(int chunkSize, int headerSize, bool asymmetric) =>
        asymmetric
            ? _asymmetric.MaxBodySize(chunkSize, headerSize)
            : AesHmacChunkProtection.MaxBodySize(chunkSize, headerSize, Mode == MessageSecurityMode.SignAndEncrypt);

    public byte[] Seal(ReadOnlySpan<byte> plain, int securityHeaderEnd, bool asymmetric, uint tokenId) =>
        asymmetric ? _asymmetric.Seal(plain, securityHeaderEnd) : Keys(tokenId).Seal(plain, securityHeaderEnd);

    public byte[] Open(ReadOnlySpan<byte> chunk, int securityHeaderEnd, bool asymmetric, uint tokenId)
    {
        if (asymmetric)
        {
            CheckAsymmetricHeader(chunk, securityHeaderEnd);
            return _asymmetric.Open(chunk, securityHeaderEnd);
        }

        AesHmacChunkProtection protection;
        lock (_tokensLock)
        {
            protection = _current?.TokenId == tokenId ? _current
                : _previous?.TokenId == tokenId ? _previous
                : throw new CryptographicException(
                    $"The received chunk is secured with token {tokenId}, which this channel does not hold " +
                    $"(it holds {(_current is null ? "none" : string.Join(", ", HeldTokensLocked()))}).");
        }
        var opened = protection.Open(chunk, securityHeaderEnd);
        lock (_tokensLock)
        {
            if (ReferenceEquals(protection, _current) && _previous is not null)
            {
                Retire(_previous);
                _previous = null;
            }
        }
        return opened;
    }

    public (byte[] Signature, string? Algorithm) SignSessionProof(ReadOnlySpan<byte> serverCertificate, ReadOnlySpan<byte> serverNonce)
    {
        var data = new byte[serverCertificate.Length + serverNonce.Length];
        serverCertificate.CopyTo(data);
        serverNonce.CopyTo(data.AsSpan(serverCertificate.Length));
        return (_ownKey.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1), SecurityPolicyUris.RsaSha256);
    }

    /// <summary>
    /// Checks the other side's proof of its key: under CreateSession, the server's signature of the client's
    /// certificate followed by the client's nonce. Throws <see cref="CryptographicException"/> when it does not verify.
    /// </summary>
    public void VerifySessionProof(ReadOnlySpan<byte> certificate, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> signature, string? algorithm)
    {
        if (algorithm != SecurityPolicyUris.RsaSha256)
        {
            throw new CryptographicException($"The session signature uses '{algorithm}', where Basic256Sha256 asks for {SecurityPolicyUris.RsaSha256}.");
        }
        var data = new byte[certificate.Length + nonce.Length];
        certificate.CopyTo(data);
        nonce.CopyTo(data.AsSpan(certificate.Length));
        if (!_remoteKey.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1))
        {
            throw new CryptographicException(
                $"The session signature does not verify with the key of '{_remoteCertificate.Subject}': the peer does not hold the private key of the certificate it showed.");
        }
    }

    public void Dispose()
    {
        lock (_tokensLock)
        {
            _current?.Dispose();
            _previous?.Dispose();
            _retired?.Dispose();
            _current = _previous = _retired = null;
        }
        _ownKey.Dispose();
        _remoteKey.Dispose();
        _remoteCertificate.Dispose();
    }

    private AesHmacChunkProtection Keys(uint tokenId)
    {
        lock (_tokensLock)
        {
            return _current?.TokenId == tokenId ? _current
                : _previous?.TokenId == tokenId ? _previous
                : throw new InvalidOperationException(
                    $"No keys for token {tokenId}: DeriveKeys must be called with the nonces of that token's OpenSecureChannel exchange first.");
        }
    }

    // A dropped token's keys may still be in use by a chunk being sealed on another thread, so they are
    // disposed one renewal later rather than at once.
    private void Retire(AesHmacChunkProtection? protection)
    {
        if (protection is not null)
        {
            _retired?.Dispose();
            _retired = protection;
        }
    }

    private static void CheckKeySize(RSA key, string subject, string whose)
    {
        if (key.KeySize is < MinKeyBits or > MaxKeyBits)
        {
            throw new ArgumentException(
                $"The certificate '{subject}' ({whose}) has a {key.KeySize}-bit RSA key; Basic256Sha256 needs {MinKeyBits} to {MaxKeyBits} bits.");
        }
    }
}
