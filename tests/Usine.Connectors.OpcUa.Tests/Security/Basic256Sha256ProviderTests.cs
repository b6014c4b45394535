using System.Security.Cryptography;
using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Security;

namespace Usine.Connectors.OpcUa.Tests.Security;

public sealed class Basic256Sha256ProviderTests(SecurityKeys keys) : IClassFixture<SecurityKeys>, IDisposable
{
    private readonly TempFolder _data = new();

    public void Dispose() => _data.Dispose();

    private ChannelSecurityRequest Request(string applicationUri = "urn:usine-tests:Usine", string? trust = null) =>
        new(MessageSecurityMode.SignAndEncrypt, SecurityPolicyUris.Basic256Sha256, keys.Server2048.RawData, trust, _data.Path, applicationUri);

    [Fact]
    public void Without_a_trust_setting_the_server_must_be_in_DATA_pki_trusted()
    {
        var provider = new Basic256Sha256Provider();
        var error = Assert.Throws<UntrustedCertificateException>(() => provider.Create(Request()));
        Assert.Contains($"not in the trust folder {Path.Combine(_data.Path, "pki", "trusted")}", error.Message, StringComparison.Ordinal);

        Directory.CreateDirectory(Path.Combine(_data.Path, "pki", "trusted"));
        File.Copy(error.RejectedCopy!, Path.Combine(_data.Path, "pki", "trusted", "server.der"));
        using var security = (Basic256Sha256Security)provider.Create(Request());
        Assert.Equal(keys.Server2048.GetCertHash(HashAlgorithmName.SHA1), security.RemoteCertificateThumbprint.ToArray());
    }

    [Fact]
    public void A_certificate_made_for_another_ApplicationUri_is_not_used_and_the_error_says_how_to_get_a_new_one()
    {
        var trust = _data.Sub("trust");
        Directory.CreateDirectory(trust);
        File.WriteAllBytes(Path.Combine(trust, "server.der"), keys.Server2048.RawData);
        using (ApplicationCertificate.LoadOrCreate(Path.Combine(_data.Path, "pki", "own"), "urn:old-name:Usine", "old-name", TimeProvider.System))
        {
        }

        var error = Assert.Throws<UsineException>(() => new Basic256Sha256Provider().Create(Request("urn:new-name:Usine", trust)));
        Assert.Contains("was made for the ApplicationUri urn:old-name:Usine, but the client now says urn:new-name:Usine", error.Message, StringComparison.Ordinal);
        Assert.Contains($"remove {ApplicationCertificate.CertificateFileName} and {ApplicationCertificate.PrivateKeyFileName}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_user_secret_is_encrypted_for_the_server_with_RSA_OAEP()
    {
        var nonce = RandomNumberGenerator.GetBytes(32);
        var (data, algorithm) = new Basic256Sha256Provider().EncryptUserSecret("painter-secret"u8, nonce, keys.Server2048.RawData);

        Assert.Equal(SecurityPolicyUris.RsaOaep, algorithm);
        using var key = System.Security.Cryptography.X509Certificates.RSACertificateExtensions.GetRSAPrivateKey(keys.Server2048)!;
        Assert.Equal([.. BitConverter.GetBytes(14 + 32), .. "painter-secret"u8.ToArray(), .. nonce], key.Decrypt(data, RSAEncryptionPadding.OaepSHA1));
    }
}
