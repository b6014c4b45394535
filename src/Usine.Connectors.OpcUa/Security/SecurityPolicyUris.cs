namespace Usine.Connectors.OpcUa.Security;

/// <summary>The URIs that name security policies and their algorithms (OPC 10000-7, OPC 10000-4 §7.36).</summary>
public static class SecurityPolicyUris
{
    public const string None = "http://opcfoundation.org/UA/SecurityPolicy#None";
    public const string Basic128Rsa15 = "http://opcfoundation.org/UA/SecurityPolicy#Basic128Rsa15";
    public const string Basic256 = "http://opcfoundation.org/UA/SecurityPolicy#Basic256";
    public const string Basic256Sha256 = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256";
    public const string Aes128Sha256RsaOaep = "http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep";
    public const string Aes256Sha256RsaPss = "http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss";

    /// <summary>RSA-OAEP with SHA-1, the asymmetric encryption of Basic256Sha256 and of its password tokens.</summary>
    public const string RsaOaep = "http://www.w3.org/2001/04/xmlenc#rsa-oaep";

    /// <summary>RSA-OAEP with SHA-256, the password encryption of Aes256_Sha256_RsaPss.</summary>
    public const string RsaOaepSha256 = "http://opcfoundation.org/UA/security/rsa-oaep-sha2-256";

    /// <summary>RSA PKCS #1 v1.5 encryption, the password encryption of Basic128Rsa15.</summary>
    public const string Rsa15 = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";

    /// <summary>RSA PKCS #1 v1.5 signature with SHA-256, the asymmetric signature of Basic256Sha256.</summary>
    public const string RsaSha256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
}
