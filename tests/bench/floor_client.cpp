// The bench's floor: the smallest honest client doing what `certenroll-cli enroll --ces-url` and
// `policy --url` do on the wire, written straight on the libraries certenroll-cli uses (libcurl,
// OpenSSL, tinyxml2), without its checks, state, audit or error handling. tests/bench/run times
// certenroll-cli against it in the same run, so the ratio shows what certenroll-cli's own
// layers cost on top of the libraries.
//
//   floor_client enroll CES_URL CA_BUNDLE USERNAME PASSWORD_FILE TEMPLATE ec|rsa CN OUT_DIR
//   floor_client policy CEP_URL CA_BUNDLE USERNAME PASSWORD_FILE
//
// enroll: key (written 0600 before the request leaves, as certenroll-cli does), PKCS#10 with the
// subject, a DNS SAN equal to CN and the template name extension, one RequestSecurityToken
// (Issue) with a UsernameToken, the issued certificate checked against the key and its chain
// (the response's PKCS#7 certificates) against CA_BUNDLE, as certenroll-cli checks what it is
// given, then written as PEM: cert.pem, chain.pem and fullchain.pem. Files are written as any
// client that promises not to lose a key or leave half a file must write them (and as the
// project's standards require): a temporary file, fsync, rename, and an fsync of the directory
// before the name is relied on (the key's before the request leaves; one for the three outputs).
// What certenroll-cli does on top (its state record, the replacement journal that makes a
// renewal's switch crash-safe, the audit log) is not in the floor: that is its own cost.
// policy: one GetPolicies, parsed, the number of templates printed.
// Exit 0 on success.

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <tinyxml2.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "floor_client: %s\n", what.c_str());
    std::exit(1);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        fail("cannot read " + path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    return text;
}

// A complete file under `path` or none: temporary, fsync, rename (the directory is synced by
// the caller, once for the files it writes together).
void write_durably(const std::string& path, const std::string& data, mode_t mode) {
    const std::string temporary = path + ".tmp";
    const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()) ||
        fsync(fd) != 0 || close(fd) != 0 || rename(temporary.c_str(), path.c_str()) != 0)
        fail("cannot write " + path);
}

void sync_directory(const std::string& dir) {
    const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0 || close(fd) != 0)
        fail("cannot sync " + dir);
}

std::string pem_of(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr || PEM_write_bio_X509(bio, cert) != 1)
        fail("cannot encode a certificate");
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return pem;
}

std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    const int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::vector<unsigned char> unbase64(std::string text) {
    std::string clean;
    for (char c : text)
        if (c != '\r' && c != '\n' && c != ' ' && c != '\t')
            clean += c;
    std::vector<unsigned char> out(clean.size() / 4 * 3 + 3);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(clean.data()),
                                  static_cast<int>(clean.size()));
    if (n < 0)
        fail("bad base64 in the response");
    std::size_t size = static_cast<std::size_t>(n);
    for (std::size_t i = clean.size(); i > 0 && clean[i - 1] == '='; --i)
        --size;  // EVP_DecodeBlock counts padding as zero bytes
    out.resize(size);
    return out;
}

std::string xml_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string utc(std::time_t t) {
    char text[32];
    std::tm parts{};
    gmtime_r(&t, &parts);
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S.000Z", &parts);
    return text;
}

std::string uuid() {
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
    char text[40];
    std::snprintf(text, sizeof text,
                  "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                  b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                  b[14], b[15]);
    return text;
}

std::string envelope(const std::string& action, const std::string& url, const std::string& username,
                     const std::string& password, const std::string& body) {
    const std::string id = uuid();
    const std::time_t now = std::time(nullptr);
    return "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
           "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
           "xmlns:a=\"http://www.w3.org/2005/08/addressing\" "
           "xmlns:o=\"http://docs.oasis-open.org/wss/2004/01/"
           "oasis-200401-wss-wssecurity-secext-1.0.xsd\" "
           "xmlns:u=\"http://docs.oasis-open.org/wss/2004/01/"
           "oasis-200401-wss-wssecurity-utility-1.0.xsd\" "
           "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><s:Header>"
           "<a:Action s:mustUnderstand=\"1\">" +
           action + "</a:Action><a:MessageID>urn:uuid:" + id +
           "</a:MessageID><a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous"
           "</a:Address></a:ReplyTo><a:To s:mustUnderstand=\"1\">" +
           xml_escape(url) +
           "</a:To><o:Security s:mustUnderstand=\"1\"><u:Timestamp u:Id=\"_0\"><u:Created>" +
           utc(now) + "</u:Created><u:Expires>" + utc(now + 300) +
           "</u:Expires></u:Timestamp><o:UsernameToken u:Id=\"uuid-" + id + "-1\"><o:Username>" +
           xml_escape(username) +
           "</o:Username><o:Password Type=\"http://docs.oasis-open.org/wss/2004/01/"
           "oasis-200401-wss-username-token-profile-1.0#PasswordText\">" +
           xml_escape(password) +
           "</o:Password></o:UsernameToken></o:Security></s:Header><s:Body>" + body +
           "</s:Body></s:Envelope>";
}

std::size_t append(char* data, std::size_t size, std::size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
}

std::string post(const std::string& url, const std::string& ca_bundle, const std::string& action,
                 const std::string& body) {
    CURL* curl = curl_easy_init();
    std::string response;
    const std::string content_type =
        "Content-Type: application/soap+xml; charset=utf-8; action=\"" + action + "\"";
    curl_slist* headers = curl_slist_append(nullptr, content_type.c_str());
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca_bundle.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
    const CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (code != CURLE_OK)
        fail(std::string("POST failed: ") + curl_easy_strerror(code));
    if (status != 200)
        fail("HTTP " + std::to_string(status) + ": " + response.substr(0, 300));
    return response;
}

// The first element named `local` (any prefix) below `from`, depth first.
const tinyxml2::XMLElement* find(const tinyxml2::XMLElement* from, const char* local) {
    for (const tinyxml2::XMLElement* e = from->FirstChildElement(); e != nullptr;
         e = e->NextSiblingElement()) {
        const char* name = e->Name();
        const char* colon = std::strchr(name, ':');
        if (std::strcmp(colon != nullptr ? colon + 1 : name, local) == 0)
            return e;
        if (const tinyxml2::XMLElement* below = find(e, local))
            return below;
    }
    return nullptr;
}

void add_extension(X509_REQ* req, STACK_OF(X509_EXTENSION) * extensions, int nid,
                   const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, nullptr, nullptr, req, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (extension == nullptr)
        fail("cannot make an extension");
    sk_X509_EXTENSION_push(extensions, extension);
}

int enroll(char** argv) {
    const std::string url = argv[2], ca = argv[3], user = argv[4];
    const std::string password = read_file(argv[5]);
    const std::string template_name = argv[6], kind = argv[7], cn = argv[8], out = argv[9];

    EVP_PKEY* key = kind == "rsa" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                                  : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (key == nullptr)
        fail("key generation failed");
    BIO* key_pem = BIO_new(BIO_s_mem());
    if (key_pem == nullptr ||
        PEM_write_bio_PrivateKey(key_pem, key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        fail("cannot encode the key");
    char* key_data = nullptr;
    const long key_size = BIO_get_mem_data(key_pem, &key_data);
    write_durably(out + "/key.pem", std::string(key_data, static_cast<std::size_t>(key_size)),
                  0600);
    BIO_free(key_pem);
    sync_directory(out);

    X509_REQ* req = X509_REQ_new();
    X509_NAME* subject = X509_REQ_get_subject_name(req);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_REQ_set_pubkey(req, key);
    STACK_OF(X509_EXTENSION)* extensions = sk_X509_EXTENSION_new_null();
    add_extension(req, extensions, NID_subject_alt_name, ("DNS:" + cn).c_str());
    // szOID_ENROLL_CERTTYPE_EXTENSION (1.3.6.1.4.1.311.20.2): the template name as a BMPString.
    ASN1_STRING* name = ASN1_STRING_type_new(V_ASN1_BMPSTRING);
    std::string bmp;
    for (char c : template_name) {
        bmp += '\0';
        bmp += c;
    }
    ASN1_STRING_set(name, bmp.data(), static_cast<int>(bmp.size()));
    unsigned char* der = nullptr;
    const int der_size = i2d_ASN1_BMPSTRING(name, &der);
    ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(value, der, der_size);
    ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.4.1.311.20.2", 1);
    sk_X509_EXTENSION_push(extensions, X509_EXTENSION_create_by_OBJ(nullptr, oid, 0, value));
    X509_REQ_add_extensions(req, extensions);
    if (X509_REQ_sign(req, key, EVP_sha256()) <= 0)
        fail("cannot sign the CSR");
    unsigned char* csr = nullptr;
    const int csr_size = i2d_X509_REQ(req, &csr);

    const std::string body =
        "<t:RequestSecurityToken xmlns:t=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512\" "
        "xmlns:e=\"http://schemas.microsoft.com/windows/pki/2009/01/enrollment\">"
        "<t:TokenType>http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-x509-token-profile-1.0#X509v3</t:TokenType>"
        "<t:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</t:RequestType>"
        "<o:BinarySecurityToken ValueType=\"http://schemas.microsoft.com/windows/pki/2009/01/"
        "enrollment#PKCS10\" EncodingType=\"http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary\">" +
        base64(csr, static_cast<std::size_t>(csr_size)) +
        "</o:BinarySecurityToken><e:RequestID xsi:nil=\"true\"/></t:RequestSecurityToken>";
    const std::string action =
        "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep";
    const std::string response = post(url, ca, action, envelope(action, url, user, password, body));

    tinyxml2::XMLDocument document;
    if (document.Parse(response.data(), response.size()) != tinyxml2::XML_SUCCESS)
        fail("the response is not XML");
    const tinyxml2::XMLElement* requested = find(document.RootElement(), "RequestedSecurityToken");
    const tinyxml2::XMLElement* token =
        requested != nullptr ? find(requested, "BinarySecurityToken") : nullptr;
    if (token == nullptr || token->GetText() == nullptr)
        fail("no issued certificate in the response: " + response.substr(0, 300));
    const std::vector<unsigned char> cert_der = unbase64(token->GetText());
    const unsigned char* cursor = cert_der.data();
    X509* cert = d2i_X509(nullptr, &cursor, static_cast<long>(cert_der.size()));
    if (cert == nullptr || EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1)
        fail("the issued certificate does not carry our key");
    // The response's other BinarySecurityToken: the PKCS#7 with the issuing chain.
    const tinyxml2::XMLElement* response_token =
        find(document.RootElement(), "BinarySecurityToken");
    if (response_token == token || response_token == nullptr ||
        response_token->GetText() == nullptr)
        fail("no PKCS#7 chain in the response");
    const std::vector<unsigned char> p7_der = unbase64(response_token->GetText());
    cursor = p7_der.data();
    PKCS7* p7 = d2i_PKCS7(nullptr, &cursor, static_cast<long>(p7_der.size()));
    if (p7 == nullptr || PKCS7_type_is_signed(p7) == 0)
        fail("the response's PKCS#7 is unreadable");
    X509_STORE* store = X509_STORE_new();
    X509_STORE_CTX* verify = X509_STORE_CTX_new();
    if (X509_STORE_load_file(store, ca.c_str()) != 1 ||
        X509_STORE_CTX_init(verify, store, cert, p7->d.sign->cert) != 1 ||
        X509_verify_cert(verify) != 1)
        fail("the issued certificate's chain does not verify against the CA bundle");
    X509_STORE_CTX_free(verify);
    X509_STORE_free(store);
    std::string chain_pem;
    for (int i = 0; i < sk_X509_num(p7->d.sign->cert); ++i) {
        X509* member = sk_X509_value(p7->d.sign->cert, i);
        if (X509_cmp(member, cert) != 0)
            chain_pem += pem_of(member);
    }
    PKCS7_free(p7);
    const std::string cert_pem = pem_of(cert);
    write_durably(out + "/chain.pem", chain_pem, 0644);
    write_durably(out + "/fullchain.pem", cert_pem + chain_pem, 0644);
    write_durably(out + "/cert.pem", cert_pem, 0644);
    sync_directory(out);

    X509_free(cert);
    OPENSSL_free(csr);
    OPENSSL_free(der);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(value);
    ASN1_STRING_free(name);
    sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return 0;
}

int policy(char** argv) {
    const std::string url = argv[2], ca = argv[3], user = argv[4];
    const std::string password = read_file(argv[5]);
    const std::string body =
        "<GetPolicies xmlns=\"http://schemas.microsoft.com/windows/pki/2009/01/"
        "enrollmentpolicy\"><client><lastUpdate xsi:nil=\"true\"/><preferredLanguage "
        "xsi:nil=\"true\"/></client><requestFilter><policyOIDs xsi:nil=\"true\"/>"
        "<clientVersion>0</clientVersion><serverVersion>0</serverVersion></requestFilter>"
        "</GetPolicies>";
    const std::string action =
        "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies";
    const std::string response = post(url, ca, action, envelope(action, url, user, password, body));
    tinyxml2::XMLDocument document;
    if (document.Parse(response.data(), response.size()) != tinyxml2::XML_SUCCESS)
        fail("the response is not XML");
    const tinyxml2::XMLElement* policies = find(document.RootElement(), "policies");
    if (policies == nullptr)
        fail("no policies in the response: " + response.substr(0, 300));
    int templates = 0;
    for (const tinyxml2::XMLElement* p = policies->FirstChildElement(); p != nullptr;
         p = p->NextSiblingElement())
        ++templates;
    std::printf("%d templates\n", templates);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int status = 2;
    if (argc == 10 && std::strcmp(argv[1], "enroll") == 0)
        status = enroll(argv);
    else if (argc == 6 && std::strcmp(argv[1], "policy") == 0)
        status = policy(argv);
    else
        std::fprintf(stderr, "usage: see the comment at the top of floor_client.cpp\n");
    curl_global_cleanup();
    return status;
}
