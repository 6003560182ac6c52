"""The standard clauses of the contractual documents (services.signing.contracts): the CGU's
definitions and articles, the subscription contract's articles, the engagements closing the
authorisation letter, the powers given by the power of attorney. Placeholders, filled from
the order: {provider} (the AE), {ca} (the CA), {order}, {company}, {holder}, {legal},
{mandataire}.

They are version 1 of every AE's texts (``builtin_markdown``, in the Markdown of
services.signing.clauses); an AE words its contracts differently under « Textes
contractuels » (services.signing.text_versions), never here.
"""
from __future__ import annotations

CGU_DEFINITIONS = (
    ("Autorité de Certification (AC)", "entité qui émet les certificats, en garantit le lien "
     "avec l'identité du Porteur et en publie l'état de validité ; ici l'AC « {ca} »."),
    ("Autorité d'Enregistrement (AE)", "entité mandatée par l'AC pour vérifier l'identité du "
     "Porteur et des représentants du Souscripteur, instruire le dossier de commande et "
     "valider la demande de certificat."),
    ("Certificat", "fichier électronique signé par l'AC qui atteste du lien entre une clé "
     "publique et l'identité du Porteur, pour une durée de validité déterminée."),
    ("Clé USB cryptographique", "support matériel qualifié sur lequel la paire de clés du "
     "Porteur est générée et conservée ; la clé privée ne peut en être extraite."),
    ("Code PIN", "code personnel et confidentiel choisi par le Porteur qui protège l'accès à sa "
     "clé privée."),
    ("Code d'activation", "code à usage unique envoyé au Contact OTP qui permet au Porteur "
     "d'activer sa clé USB lors de la remise."),
    ("Contact OTP", "numéro de téléphone mobile ou adresse électronique déclaré dans le dossier "
     "de commande pour la réception du code d'activation."),
    ("Dossier de commande", "ensemble des informations saisies et des pièces justificatives et "
     "contractuelles transmises à l'AE pour une commande."),
    ("Liste des certificats révoqués (LCR)", "liste publiée et signée par l'AC des certificats "
     "révoqués avant leur date d'expiration."),
    ("Politique de Certification (PC)", "ensemble des règles, identifié par un OID, qui définit "
     "les exigences auxquelles l'AC se conforme pour l'émission et la gestion des certificats."),
    ("Porteur", "personne physique identifiée dans le certificat, seule autorisée à utiliser "
     "la clé privée correspondante."),
    ("Représentant légal, Mandataire", "personne habilitée à engager le Souscripteur, et "
     "personne à laquelle elle a donné pouvoir pour accomplir les démarches de commande."),
    ("Souscripteur", "personne morale qui commande le certificat pour le compte du Porteur et "
     "en règle le prix."),
)

CGU_ARTICLES = (
    ("Objet", (
        "Les présentes Conditions Générales d'Utilisation (ci-après « CGU ») ont pour objet de "
        "définir les conditions dans lesquelles {provider} instruit les demandes de "
        "certificats électroniques émis par l'{ca}, ainsi que les droits et obligations du "
        "Souscripteur, du Porteur et de l'Autorité d'Enregistrement.",
        "Elles s'appliquent à la commande N° {order} passée par la société {company} pour le "
        "compte de {holder}, Porteur du certificat. Toute commande implique l'acceptation sans "
        "réserve des présentes CGU, qui prévalent sur tout autre document du Souscripteur.",
    )),
    ("Documents contractuels", (
        "Les relations entre les parties sont régies, par ordre de priorité décroissante, par "
        "le contrat d'abonnement, les présentes CGU, la Politique de Certification de l'AC et "
        "sa Déclaration des Pratiques de Certification, dont les versions en vigueur sont "
        "publiées sur le site de l'AC. En cas de contradiction entre ces documents, le document "
        "de rang supérieur prévaut.",
        "Le Souscripteur reconnaît avoir pris connaissance de la Politique de Certification "
        "applicable, de niveau RGS** et conforme au règlement (UE) n° 910/2014 dit « eIDAS » "
        "pour les certificats qualifiés de signature électronique.",
    )),
    ("Description du service", (
        "Le service comprend l'instruction du dossier de commande par l'AE, la génération de la "
        "paire de clés du Porteur directement sur une clé USB cryptographique qualifiée, "
        "l'émission du certificat par l'AC, sa remise au Porteur et la publication de son état "
        "de validité pendant toute sa durée de vie.",
        "Le certificat a une durée de validité d'un, deux ou trois ans selon l'offre souscrite. "
        "Il permet au Porteur de signer électroniquement des documents avec une signature "
        "qualifiée, dont l'effet juridique est équivalent à celui d'une signature manuscrite.",
        "Le service ne comprend ni la fourniture d'un logiciel de signature, ni l'assistance "
        "à l'utilisation d'applications tierces, qui peuvent faire l'objet d'offres distinctes.",
    )),
    ("Constitution du dossier et vérification de l'identité", (
        "Le Souscripteur transmet un dossier de commande complet comprenant notamment un extrait "
        "Kbis de moins de trois mois, la copie d'une pièce d'identité en cours de validité du "
        "Porteur et du représentant légal, le cas échéant la procuration et la pièce d'identité "
        "du mandataire, ainsi que la preuve du paiement.",
        "L'AE vérifie la cohérence des informations saisies avec les pièces justificatives. "
        "Elle peut demander tout complément ou toute correction par notification adressée à la "
        "personne à l'origine de la commande. Tant que le dossier est incomplet ou incohérent, "
        "la commande reste en attente et aucun certificat n'est émis.",
        "La validation du dossier par un opérateur de l'AE est un acte irréversible qui engage "
        "l'AC. Elle intervient après signature de l'ensemble des documents contractuels.",
    )),
    ("Remise de la clé et activation", (
        "La clé USB cryptographique est remise au Porteur en main propre ou par envoi sécurisé. "
        "Le Porteur active son certificat à l'aide du code d'activation reçu sur le Contact OTP "
        "déclaré ; un Contact OTP erroné empêche l'activation et impose une nouvelle remise.",
        "Le Porteur choisit lors de l'activation un code PIN qu'il ne communique à personne. "
        "Après plusieurs saisies erronées, la clé se bloque et ne peut être débloquée que selon "
        "la procédure prévue par l'AC.",
    )),
    ("Obligations du Porteur", (
        "Le Porteur s'engage à fournir des informations exactes et à jour, à conserver sa clé "
        "USB sous son contrôle exclusif, à garder secret son code PIN et à n'utiliser son "
        "certificat que pour les usages autorisés par la Politique de Certification.",
        "Il s'engage à demander sans délai la révocation de son certificat en cas de perte, de "
        "vol ou de suspicion de compromission de sa clé ou de son code PIN, ainsi qu'en cas de "
        "modification des informations figurant dans le certificat.",
    )),
    ("Obligations du Souscripteur", (
        "Le Souscripteur garantit l'exactitude des informations relatives à la société et à ses "
        "représentants, ainsi que l'habilitation de la personne qui signe les documents "
        "contractuels en son nom. Il informe l'AE de tout changement affectant le Porteur, "
        "notamment son départ de la société, et demande alors la révocation du certificat.",
        "Il s'acquitte du prix du service selon les conditions du contrat d'abonnement et veille "
        "à ce que le Porteur respecte les obligations qui lui incombent.",
    )),
    ("Obligations de l'AC et de l'AE", (
        "L'AE instruit les dossiers avec diligence, conserve la trace de chaque vérification et "
        "ne valide une demande qu'après contrôle de l'ensemble des pièces. L'AC émet le "
        "certificat conformément à sa Politique de Certification, publie les LCR selon la "
        "fréquence annoncée et traite les demandes de révocation dans les délais prévus.",
        "L'AC et l'AE sont soumises à des audits réguliers de conformité et mettent en œuvre "
        "les mesures de sécurité physiques, logiques et organisationnelles exigées par le "
        "référentiel applicable.",
    )),
    ("Usages du certificat", (
        "Le certificat est destiné exclusivement à la signature électronique par le Porteur, "
        "dans le cadre de son activité pour le compte du Souscripteur. Tout autre usage, "
        "notamment le chiffrement, l'authentification de serveurs ou la signature de code, est "
        "interdit et engage la seule responsabilité de son auteur.",
    )),
    ("Révocation", (
        "La révocation peut être demandée à tout moment par le Porteur, le Souscripteur ou son "
        "représentant légal, auprès de l'AE ou du service de révocation de l'AC disponible en "
        "permanence. L'AC peut également révoquer le certificat si les informations qu'il "
        "contient s'avèrent inexactes, en cas de manquement grave aux présentes CGU ou de "
        "compromission de la clé.",
        "La révocation est définitive. Elle est publiée dans la LCR suivante et ne donne lieu à "
        "aucun remboursement.",
    )),
    ("Renouvellement", (
        "Le renouvellement du certificat donne lieu à une nouvelle commande et à une nouvelle "
        "vérification de l'identité du Porteur selon les modalités de la Politique de "
        "Certification. L'AE informe le Souscripteur de l'échéance du certificat au moins un "
        "mois avant sa date d'expiration.",
    )),
    ("Responsabilité", (
        "L'AC et l'AE sont responsables des dommages causés par un manquement à leurs "
        "obligations dans les conditions prévues par le règlement eIDAS. Leur responsabilité ne "
        "saurait être engagée en cas d'utilisation du certificat non conforme aux présentes, de "
        "faute du Porteur dans la conservation de sa clé ou de son code PIN, ou de force "
        "majeure.",
        "Sauf faute lourde ou intentionnelle, la responsabilité de l'AE est limitée, tous "
        "préjudices confondus, au montant payé par le Souscripteur pour la commande concernée.",
    )),
    ("Données à caractère personnel", (
        "Les données collectées sont nécessaires à l'émission du certificat et au respect des "
        "obligations légales de l'AC. Elles sont traitées conformément au règlement (UE) "
        "2016/679 et à la loi « Informatique et Libertés ». Le Porteur dispose d'un droit "
        "d'accès, de rectification et de limitation qu'il exerce auprès de l'AE ; le droit à "
        "l'effacement ne s'applique pas aux données dont la conservation est imposée.",
    )),
    ("Conservation et archivage", (
        "Le dossier de commande, les pièces justificatives, les documents signés et le journal "
        "des événements sont conservés par l'AE pendant la durée exigée par la Politique de "
        "Certification, soit au moins sept ans après l'expiration du certificat, dans des "
        "conditions garantissant leur intégrité.",
    )),
    ("Durée, modification et résiliation", (
        "Les présentes CGU s'appliquent pendant toute la durée de validité du certificat. L'AE "
        "peut les modifier pour tenir compte de l'évolution du référentiel ; la version "
        "applicable est celle en vigueur à la date de la commande.",
        "En cas de manquement grave de l'une des parties, l'autre partie peut résilier le "
        "contrat après une mise en demeure restée sans effet pendant trente jours ; la "
        "résiliation entraîne la révocation du certificat.",
    )),
    ("Droit applicable et litiges", (
        "Les présentes CGU sont soumises au droit français. Les parties s'efforcent de résoudre "
        "à l'amiable tout différend ; à défaut, le litige est porté devant les juridictions "
        "compétentes du ressort du siège de l'AE.",
    )),
)

SUBSCRIPTION_ARTICLES = (
    ("Objet", (
        "Le présent contrat a pour objet la fourniture au Souscripteur d'un certificat "
        "électronique qualifié de signature au nom de son Porteur, ainsi que des services "
        "associés décrits ci-dessous, dans les conditions des CGU du service de certification.",
    )),
    ("Porteur désigné", (
        "Le certificat est émis au nom de {holder}, agissant pour le compte du Souscripteur, "
        "au titre de la commande N° {order}.",
    )),
    ("Prise d'effet et durée", (
        "Le contrat prend effet à la validation de la commande par l'AE et prend fin à "
        "l'expiration ou à la révocation du certificat. Il n'est pas renouvelé tacitement : "
        "toute prolongation donne lieu à une nouvelle commande.",
    )),
    ("Conditions financières", (
        "Le prix figure sur le bon de commande et la facture. Il est payable à la commande ; la "
        "validation du dossier par l'AE est subordonnée à la réception du règlement. Aucun "
        "remboursement n'est dû en cas de révocation anticipée, sauf faute de l'AC ou de l'AE.",
    )),
    ("Engagements du Souscripteur", (
        "Le Souscripteur s'engage à informer l'AE sans délai de toute modification concernant "
        "la société, son représentant légal ou le Porteur, et à demander la révocation du "
        "certificat lorsque le Porteur n'est plus habilité à agir en son nom.",
        "Il se porte fort du respect par le Porteur des obligations prévues par les CGU, "
        "notamment la conservation de la clé USB et la confidentialité du code PIN.",
    )),
    ("Résiliation", (
        "Chaque partie peut résilier le contrat en cas de manquement grave de l'autre partie, "
        "trente jours après une mise en demeure restée sans effet. La résiliation emporte la "
        "révocation du certificat.",
    )),
    ("Acceptation des CGU", (
        "Le Souscripteur et le Porteur déclarent avoir pris connaissance des Conditions "
        "Générales d'Utilisation du service de certification et de la Politique de "
        "Certification applicable, et les accepter sans réserve.",
    )),
)

AUTHORIZATION_CLAUSES = (
    "{holder} pourra utiliser ce certificat pour signer électroniquement les actes relevant de "
    "ses fonctions au sein de la société. Je m'engage à informer l'Autorité d'Enregistrement "
    "sans délai de toute modification de sa situation, et notamment de la fin de son "
    "habilitation, afin que le certificat soit révoqué.",
    "Je certifie l'exactitude des informations transmises dans le dossier de commande et "
    "déclare avoir pris connaissance des Conditions Générales d'Utilisation du service de "
    "certification.",
)

POWER_OF_ATTORNEY_POWERS = (
    "compléter et transmettre le dossier de commande et les pièces justificatives ;",
    "signer le contrat d'abonnement, les Conditions Générales d'Utilisation et la lettre "
    "d'autorisation de demande de certificat ;",
    "recevoir les notifications relatives à la commande et y donner suite ;",
    "demander, le cas échéant, la révocation du certificat émis.",
)
POWER_OF_ATTORNEY_CLOSING = (
    "La présente procuration vaut pour la commande désignée ci-dessus et pour la durée de "
    "validité du certificat correspondant. Le Mandataire déclare accepter le présent pouvoir "
    "et s'engage à en rendre compte au mandant.",
)


def _articles(articles, first: int = 1) -> list[str]:
    return [f"## Article {number} — {heading}\n\n" + "\n\n".join(paragraphs)
            for number, (heading, paragraphs) in enumerate(articles, first)]


def builtin_markdown(kind: str) -> str:
    """Version 1 of the clauses of ``kind``, in Markdown."""
    if kind == "cgu":
        definitions = "## Article 2 — Définitions\n\n" + "\n".join(
            f"- **{term}** : {meaning}" for term, meaning in CGU_DEFINITIONS)
        blocks = _articles(CGU_ARTICLES[:1]) + [definitions] + _articles(CGU_ARTICLES[1:], 3)
    elif kind == "subscription_contract":
        blocks = _articles(SUBSCRIPTION_ARTICLES)
    elif kind == "authorization_letter":
        blocks = list(AUTHORIZATION_CLAUSES)
    elif kind == "power_of_attorney":
        blocks = ["\n".join(f"- {item}" for item in POWER_OF_ATTORNEY_POWERS),
                  *POWER_OF_ATTORNEY_CLOSING]
    else:
        raise ValueError(f"not a contractual document: {kind!r}")
    return "\n\n".join(blocks) + "\n"
