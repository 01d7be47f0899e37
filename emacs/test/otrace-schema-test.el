;;; otrace-schema-test.el --- What Emacs receives, against docs/protocol.schema.json -*- lexical-binding: t -*-

;;; Commentary:

;; docs/protocol.schema.json is the authority for the shapes of the
;; otrace protocol.  This file checks what otrace.el receives against it,
;; in the form otrace.el receives it (jsonrpc's plists: a JSON object is a
;; plist, an array a vector, null nil, false :json-false, true t):
;;
;; - `otrace-schema-test-validate' checks a value against a part of the
;;   schema, for the keywords the schema uses ($ref, type, const, enum,
;;   anyOf/oneOf, properties, required, additionalProperties, items,
;;   prefixItems, minItems/maxItems, minimum/maximum, minLength; not
;;   pattern);
;; - while this file is loaded, the params and result of every
;;   `otrace--request' and `otrace--async-request' (a command's arguments
;;   and result) and every notification a connection hands to
;;   `otrace--on-notification' are checked, whichever ERT test caused it.
;;   A synchronous request that breaks the schema fails that test at once;
;;   every violation is also kept in `otrace-schema-test--violations',
;;   which the tests here, and `otrace-zz-schema-test-nothing-received-broke-it'
;;   (named to run last: ERT runs tests in the order of their names),
;;   require to be empty;
;; - tests against the torna_trace demo: `otrace/command' results (plain,
;;   repeat, edit), the initialize result's otrace, a hold (holdStarted,
;;   `otrace/holds', holdResumed), patches and settings.
;;
;; Loaded after otrace-test.el (its demo helpers) by scripts/emacs-test.sh.

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'subr-x)
(require 'otrace)
(require 'otrace-test)

(defconst otrace-schema-test--file (expand-file-name "docs/protocol.schema.json" otrace-test--root)
  "The protocol schema.")

(defvar otrace-schema-test--schema nil
  "The protocol schema, parsed (hash tables; null :null, false :false).")

(defvar otrace-schema-test--violations nil
  "Shape errors of what Emacs received, newest first: (WHAT . ERRORS).")

(defun otrace-schema-test--get (&rest keys)
  "The part of the schema at KEYS (strings), or nil."
  (let ((node (or otrace-schema-test--schema
                  (setq otrace-schema-test--schema
                        (with-temp-buffer
                          (insert-file-contents otrace-schema-test--file)
                          (json-parse-buffer :object-type 'hash-table :null-object :null
                                             :false-object :false))))))
    (dolist (key keys node)
      (setq node (and (hash-table-p node) (gethash key node))))))

(defun otrace-schema-test--object-p (value)
  "Non-nil when VALUE is a JSON object as jsonrpc gives it (a plist; {} is nil)."
  (and (listp value) (or (null value) (keywordp (car value)))))

(defun otrace-schema-test--type-p (type value)
  "Non-nil when VALUE is of the JSON TYPE (a string of the schema)."
  (pcase type
    ("object" (otrace-schema-test--object-p value))
    ("array" (vectorp value))
    ("string" (stringp value))
    ("integer" (integerp value))
    ("number" (numberp value))
    ("boolean" (memq value '(t :json-false)))
    ("null" (null value))))

(defun otrace-schema-test--same-p (json value)
  "Non-nil when VALUE is the schema's JSON value JSON (a const or enum member)."
  (pcase json
    (:false (eq value :json-false))
    (:null (null value))
    (_ (equal json value))))

(defun otrace-schema-test-validate (value schema &optional where)
  "The errors of VALUE against SCHEMA (a part of the schema): a list of strings.
WHERE names VALUE in the messages (default \"$\")."
  (let ((where (or where "$"))
        (errors nil))
    (cl-flet ((fail (format &rest args) (push (concat where ": " (apply #'format format args)) errors))
              (sub (value schema where) (setq errors (append (otrace-schema-test-validate value schema where)
                                                             errors))))
      (when-let ((ref (gethash "$ref" schema)))
        (sub value (otrace-schema-test--get "$defs" (car (last (split-string ref "/")))) where))
      (when-let ((type (gethash "type" schema)))
        (let ((types (if (stringp type) (list type) (append type nil))))
          (unless (cl-some (lambda (ty) (otrace-schema-test--type-p ty value)) types)
            (fail "%S is not %s" value (string-join types " or ")))))
      (let ((const (gethash "const" schema 'none)))
        (unless (or (eq const 'none) (otrace-schema-test--same-p const value))
          (fail "%S is not %S" value const)))
      (when-let ((enum (gethash "enum" schema)))
        (unless (cl-some (lambda (e) (otrace-schema-test--same-p e value)) enum)
          (fail "%S is none of %S" value enum)))
      (when-let ((alternatives (or (gethash "anyOf" schema) (gethash "oneOf" schema))))
        (unless (cl-some (lambda (alt) (null (otrace-schema-test-validate value alt where))) alternatives)
          (fail "%S matches none of its %d shapes" value (length alternatives))))
      (when (and (otrace-schema-test--object-p value)
                 (or (gethash "properties" schema) (gethash "required" schema)))
        (let ((properties (gethash "properties" schema)))
          (seq-doseq (name (gethash "required" schema))
            (unless (plist-member value (intern (concat ":" name)))
              (fail "lacks %s" name)))
          (cl-loop for (key val) on value by #'cddr
                   for name = (substring (symbol-name key) 1)
                   for spec = (and properties (gethash name properties))
                   do (cond (spec (sub val spec (concat where "." name)))
                            ((eq (gethash "additionalProperties" schema) :false)
                             (fail "has %s, which the schema does not" name))))))
      (when (vectorp value)
        (let ((prefix (gethash "prefixItems" schema))
              (items (gethash "items" schema)))
          (dotimes (i (length value))
            (let ((spec (if (and prefix (< i (length prefix))) (aref prefix i) items)))
              (when (hash-table-p spec)
                (sub (aref value i) spec (format "%s[%d]" where i)))))
          (when-let ((n (gethash "minItems" schema)))
            (when (< (length value) n) (fail "has fewer than %d items" n)))
          (when-let ((n (gethash "maxItems" schema)))
            (when (> (length value) n) (fail "has more than %d items" n)))))
      (when (numberp value)
        (when-let ((n (gethash "minimum" schema)))
          (when (< value n) (fail "%s is below %s" value n)))
        (when-let ((n (gethash "maximum" schema)))
          (when (> value n) (fail "%s is above %s" value n))))
      (when-let ((n (and (stringp value) (gethash "minLength" schema))))
        (when (< (length value) n) (fail "%S is shorter than %d" value n))))
    errors))

;;;; Every message received, checked

(defun otrace-schema-test--result-schema (method params)
  "The schema of the result of request METHOD sent with PARAMS (nil: none)."
  (let ((method (format "%s" method)))
    (if (equal method "workspace/executeCommand")
        (otrace-schema-test--get "commands" (plist-get params :command) "result")
      (otrace-schema-test--get "requests" method "result"))))

(defun otrace-schema-test--note (what value schema)
  "Check VALUE (WHAT was received) against SCHEMA; return its errors, kept."
  (let ((errors (and schema (otrace-schema-test-validate value schema))))
    (when errors
      (push (cons what errors) otrace-schema-test--violations))
    errors))

(defun otrace-schema-test--sent (method params)
  "Check PARAMS of request METHOD as Emacs sends them; return their errors, kept.
The arguments of a `workspace/executeCommand' are checked as the command's."
  (let ((method (format "%s" method))
        (params (if (hash-table-p params) nil params))) ; (make-hash-table): {}
    (if (equal method "workspace/executeCommand")
        (let ((command (plist-get params :command)))
          (otrace-schema-test--note (format "%s arguments" command) (or (plist-get params :arguments) [])
                                    (otrace-schema-test--get "commands" command "arguments")))
      (otrace-schema-test--note (format "%s params" method) params
                                (otrace-schema-test--get "requests" method "params")))))

(defun otrace-schema-test--checked-request (request method &optional params &rest more)
  "Around `otrace--request' (REQUEST): METHOD's PARAMS and result checked.
MORE is passed on."
  (let ((errors (otrace-schema-test--sent method params)))
    (when errors
      (ert-fail (list "the request breaks docs/protocol.schema.json" method errors))))
  (let ((result (apply request method params more)))
    (when result                        ; nil: the wait was cancelled by a key
      (let ((errors (otrace-schema-test--note (format "%s result" method) result
                                              (otrace-schema-test--result-schema method params))))
        (when errors
          (ert-fail (list "the answer breaks docs/protocol.schema.json" method errors)))))
    result))

(defun otrace-schema-test--checked-async (request method params then &rest more)
  "Around `otrace--async-request' (REQUEST): METHOD's PARAMS checked, THEN gets its
result once checked.  MORE is passed on."
  (otrace-schema-test--sent method params)
  (apply request method params
         (lambda (result)
           (otrace-schema-test--note (format "%s result" method) result
                                     (otrace-schema-test--result-schema method params))
           (funcall then result))
         more))

(defun otrace-schema-test--checked-notification (conn method params)
  "Before `otrace--on-notification': a real connection's (CONN) METHOD PARAMS checked.
Notifications made up by tests (CONN nil) are not."
  (when (and conn (string-prefix-p "otrace/" (format "%s" method)))
    (let ((spec (otrace-schema-test--get "notifications" (format "%s" method))))
      (if spec
          (otrace-schema-test--note (format "%s" method) params (gethash "params" spec))
        (push (list (format "%s" method) "not a notification of the schema") otrace-schema-test--violations)))))

(advice-add 'otrace--request :around #'otrace-schema-test--checked-request)
(advice-add 'otrace--async-request :around #'otrace-schema-test--checked-async)
(advice-add 'otrace--on-notification :before #'otrace-schema-test--checked-notification)

;;;; Tests

(ert-deftest otrace-schema-test-validator ()
  "The validator accepts the server's shapes and names what breaks them."
  (let ((hold '(:id "G.get:hd-x:1" :number 1 :traceId "G.get:hd-x:1" :label "x" :function "G.get"
                :file "/a.py" :line 3 :since 1.5 :age 0 :remaining nil
                :summary (:method "GET" :uri "/") :webClient nil :clientGone :json-false))
        (spec (otrace-schema-test--get "notifications" "otrace/holdStarted" "params"))
        (command (otrace-schema-test--get "requests" "otrace/command" "result")))
    (should-not (otrace-schema-test-validate hold spec))
    (should-not (otrace-schema-test-validate (plist-put (copy-sequence hold) :summary nil) spec))
    (should (equal (otrace-schema-test-validate (plist-put (copy-sequence hold) :clientGone nil) spec)
                   '("$.clientGone: nil is not boolean")))
    (should (equal (otrace-schema-test-validate (cl-subseq hold 2) spec) '("$: lacks id")))
    (should (equal (otrace-schema-test-validate (append hold '(:extra 1)) spec)
                   '("$: has extra, which the schema does not")))
    (should (otrace-schema-test-validate (plist-put (copy-sequence hold) :summary '(:verb "GET")) spec))
    (should-not (otrace-schema-test-validate '(:output "" :prompt "> " :cwd "/" :error :json-false
                                               :repeat "ls" :quit t)
                                             command))
    ;; protocol.ts once said repeat is a boolean: the server sends the command line
    (should (equal (otrace-schema-test-validate '(:output "" :prompt "> " :cwd "/" :error :json-false :repeat t)
                                                command)
                   '("$.repeat: t is not string")))
    ;; what Emacs sends: ids are a vector (a list would not be a JSON array); a command's arguments
    (let ((otrace-schema-test--violations nil))
      (should-not (otrace-schema-test--sent 'otrace/resume '(:ids ["a"] :value 5)))
      (should (equal (otrace-schema-test--sent 'otrace/resume '(:ids ("a")))
                     '("$.ids: (\"a\") is not array")))
      (should-not (otrace-schema-test--sent 'workspace/executeCommand '(:command "otrace.unpatch" :arguments ["f"])))
      (should (otrace-schema-test--sent 'workspace/executeCommand '(:command "otrace.holdHere" :arguments ["f"])))
      (should (= (length otrace-schema-test--violations) 2)))))

(defun otrace-schema-test--valid (what value &rest keys)
  "Require VALUE (WHAT) to be valid against the schema at KEYS; return VALUE."
  (let ((errors (otrace-schema-test-validate value (apply #'otrace-schema-test--get keys))))
    (should (equal (cons what errors) (list what))))
  value)

(ert-deftest otrace-schema-test-what-emacs-receives-from-the-demo ()
  "The demo's answers and notifications, as Emacs has them, are what the schema says."
  (setq otrace-schema-test--violations nil)
  (otrace-test--with-app (app "demos/torna_trace.py")
    (let ((received nil))
      (cl-flet ((record (method params) (push (cons (format "%s" method) params) received))
                (got (method) (cdr (assoc method received))))
        (add-hook 'otrace-notification-functions #'record)
        (unwind-protect
            (progn
              (otrace-test--connect app)
              (otrace-schema-test--valid "initialize's otrace" (otrace--info otrace--connection)
                                         "$defs" "OtraceInfo")
              (let ((pwd (otrace--request 'otrace/command '(:line "pwd"))))
                (should (eq (plist-get pwd :error) :json-false))
                (should-not (plist-member pwd :repeat)))
              (otrace--request 'otrace/command '(:line "set safe_mode False"))
              (otrace-test--wait (lambda () (got "otrace/settingChanged")) "otrace/settingChanged")
              (should (equal (plist-get (otrace--request 'otrace/command '(:line "repeat Request_stats")) :repeat)
                             "Request_stats"))
              (let ((edit (plist-get (otrace--request 'otrace/command '(:line "edit GetHandler.respond")) :edit)))
                (should (equal (plist-get edit :name) "GetHandler.respond"))
                (otrace--request 'otrace/command (list :line "edit GetHandler.respond"
                                                       :stdin (plist-get edit :source))))
              (otrace-test--wait (lambda () (got "otrace/patchesChanged")) "otrace/patchesChanged")
              (should (= (length (plist-get (otrace--request 'otrace/patches) :patches)) 1))
              (otrace--request 'otrace/unpatch '(:name "*"))
              (let ((http (otrace-test--http-get app "/?number=77")))
                (unwind-protect
                    (let* ((started (otrace-test--wait (lambda () (got "otrace/holdStarted")) "otrace/holdStarted"))
                           (id (plist-get started :id))
                           (holds (plist-get (otrace--request 'otrace/holds) :holds)))
                      (should (equal (mapcar (lambda (h) (plist-get h :id)) holds) (list id)))
                      (should (plist-get (otrace--request 'otrace/context (list :traceId id)) :variables))
                      (otrace--request 'otrace/resume (list :ids (vector id) :value 5))
                      (should (equal (plist-get (otrace-test--wait (lambda () (got "otrace/holdResumed"))
                                                                   "otrace/holdResumed")
                                                :id)
                                     id))
                      (otrace-test--wait (lambda () (otrace-test--buffer-has http "reciprocal of 5")) "the answer"))
                  (kill-buffer http)))
              (otrace--request 'otrace/command '(:line "set safe_mode True"))
              (should (assoc "otrace/holdResumed" received)))
          (remove-hook 'otrace-notification-functions #'record)))
      (should (equal otrace-schema-test--violations nil)))))

(ert-deftest otrace-zz-schema-test-nothing-received-broke-it ()
  "Nothing Emacs received during the tests before this one broke the schema."
  (should (equal otrace-schema-test--violations nil)))

(provide 'otrace-schema-test)
;;; otrace-schema-test.el ends here
